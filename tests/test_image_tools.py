"""The helpers that build the image and run the pipeline in it (.ci/image runs them for real):
what the comparison ignores, what it reports, and the container lifecycle it relies on."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_in_image", ROOT / "images" / "run_in_image.py")
assert _spec and _spec.loader
rii = importlib.util.module_from_spec(_spec)
sys.modules["run_in_image"] = rii
_spec.loader.exec_module(rii)


def test_comparable_drops_timings_and_nothing_else() -> None:
    result = {
        "best": {"id": "ab", "dev_accuracy": 0.5, "seconds": 3.0},
        "rounds": [{"fit": {"seconds": 1, "train_seconds": 2, "s_per_epoch": 0.1, "mse": 0.2}}],
    }
    assert rii.comparable(result) == {
        "best": {"id": "ab", "dev_accuracy": 0.5},
        "rounds": [{"fit": {"mse": 0.2}}],
    }


def test_differences_name_the_path_of_each_change() -> None:
    a = {"best": {"id": "ab"}, "rounds": [{"acc": 0.5}, {"acc": 0.6}]}
    b = {"best": {"id": "cd"}, "rounds": [{"acc": 0.5}, {"acc": 0.7}], "extra": 1}
    assert rii.differences(a, b) == [
        "best.id: 'ab' != 'cd'",
        "extra: None != 1",
        "rounds[1].acc: 0.6 != 0.7",
    ]
    assert rii.differences(a, a) == []


def test_the_tiny_config_runs_every_kind_of_task() -> None:
    cfg = rii.tiny_config("localhost/nao-kfp:0.1.0-cpu", ["child.epochs=1"])
    assert cfg.cluster.image == "localhost/nao-kfp:0.1.0-cpu"
    assert cfg.search.rounds >= 2 and cfg.search.shards >= 2  # controller steps, fan-in
    assert cfg.child.epochs == 1 and cfg.child.device == "cpu"


class FakeContainer:
    def __init__(self, code: int) -> None:
        self.code, self.removed = code, False

    def logs(self, stream: bool, follow: bool) -> list[bytes]:
        assert not self.removed
        return [b"line 1\n", b"line 2\n"]

    def wait(self) -> dict[str, int]:
        assert not self.removed  # the exit code is read before the container goes
        return {"StatusCode": self.code}

    def remove(self, force: bool) -> None:
        self.removed = True


class FakeClient:
    def __init__(self, code: int) -> None:
        self.container = FakeContainer(code)
        self.containers = self
        self.run_args: dict[str, Any] = {}

    def run(self, **kwargs: Any) -> FakeContainer:
        self.run_args = kwargs
        return self.container


def test_run_container_reports_the_exit_code_then_removes_the_container(capsys: Any) -> None:
    client = FakeClient(3)
    code = rii.run_container(client, "img:1", ["python3"], {"/r": {"bind": "/r"}}, user="10001")
    assert code == 3 and client.container.removed
    assert "auto_remove" not in client.run_args and client.run_args["detach"]
    assert client.run_args["user"] == "10001"
    assert capsys.readouterr().out == "line 1\nline 2\n"


def test_build_script_is_valid_bash() -> None:
    subprocess.run(["bash", "-n", str(ROOT / "images" / "build.sh")], check=True)
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "image")], check=True)
