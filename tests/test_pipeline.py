"""The compiled search pipeline: its shape as a function of L and P, GPU placement, no secrets,
stable output; and the `nao compile` / `nao submit` commands."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from nao_kfp.pipelines.search import ACCELERATOR_LABEL, compile_pipeline

from nao_kfp.cli import main
from nao_kfp.config import load_config

# A small, fast-to-compile config (the pipeline's shape only depends on rounds and shards).
BASE = ["search.space=enas", "child.dataset=digits"]


def compiled(tmp_path: Path, *overrides: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    out = compile_pipeline(load_config(None, [*BASE, *overrides]), tmp_path / "p.yaml")
    text = out.read_text()
    spec, platform = list(yaml.safe_load_all(text))
    return spec, platform, text


def leaf_tasks(spec: dict[str, Any], dag: dict[str, Any]) -> list[tuple[str, str]]:
    """(task name, executor label) of every container task that runs, loops expanded."""
    out: list[tuple[str, str]] = []
    for name, task in dag["tasks"].items():
        comp = spec["components"][task["componentRef"]["name"]]
        if "dag" in comp:
            items = (
                yaml.safe_load(task["parameterIterator"]["items"]["raw"])
                if "parameterIterator" in task
                else [None]
            )
            out += leaf_tasks(spec, comp["dag"]) * len(items)
        else:
            out.append((name, comp["executorLabel"]))
    return out


@pytest.mark.parametrize("shards", [2, 3])
def test_task_count_follows_the_rounds(tmp_path: Path, shards: int) -> None:
    counts = []
    for rounds in (1, 2, 3):
        spec, _p, _t = compiled(tmp_path, f"search.rounds={rounds}", f"search.shards={shards}")
        tasks = leaf_tasks(spec, spec["root"]["dag"])
        children = [t for t in tasks if t[0].startswith("train-children")]
        assert len(children) == rounds * shards
        for step in ("merge",):
            assert sum(t[0].startswith(step) for t in tasks) == rounds
        # fit / optimize / decode run in every round but the last
        for step in ("fit", "optimize", "decode"):
            assert sum(t[0].startswith(step) for t in tasks) == rounds - 1
        counts.append(len(tasks))
    # each extra round adds P children, a merge and the three controller steps
    assert counts[2] - counts[1] == counts[1] - counts[0] == shards + 1 + 3
    # prepare-data, sample, select-best, report around the rounds
    assert counts[0] == 4 + shards + 1


def test_every_child_task_gets_the_gpu_and_its_placement(tmp_path: Path) -> None:
    spec, platform, _t = compiled(
        tmp_path,
        "search.rounds=2",
        "cluster.accelerator_type=nvidia-tesla-a100",
        "cluster.gpu_count=2",
        "cluster.node_selector={pool: gpu}",
        "cluster.tolerations=[{key: dedicated, operator: Equal, value: nao, effect: NoSchedule}]",
    )
    executors = spec["deploymentSpec"]["executors"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    children = [e for _n, e in leaf_tasks(spec, spec["root"]["dag"]) if "train-children" in e]
    assert len(children) == 2 * 2
    for label in children:
        acc = executors[label]["container"]["resources"]["accelerator"]
        assert acc["resourceType"] == "nvidia.com/gpu" and acc["resourceCount"] == "2"
        keys = {t.get("key") for t in k8s[label]["tolerations"]}
        assert keys == {"nvidia.com/gpu", "dedicated"}
        assert k8s[label]["nodeSelector"]["labels"] == {
            ACCELERATOR_LABEL: "nvidia-tesla-a100",
            "pool": "gpu",
        }
    # the controller steps need no GPU
    others = [e for _n, e in leaf_tasks(spec, spec["root"]["dag"]) if "train-children" not in e]
    assert all("accelerator" not in executors[e]["container"].get("resources", {}) for e in others)


def test_retries_with_backoff(tmp_path: Path) -> None:
    spec, _p, _t = compiled(
        tmp_path, "search.rounds=1", "cluster.retries=4", "cluster.retry_backoff=90s"
    )
    loop = next(c for n, c in spec["components"].items() if n.startswith("comp-for-loop"))
    policy = next(iter(loop["dag"]["tasks"].values()))["retryPolicy"]
    assert policy["maxRetryCount"] == 4 and policy["backoffDuration"] == "90s"


def test_s3_secret_by_name_never_by_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ACCESS_KEY", "AKIA-must-not-leak")
    monkeypatch.setenv("S3_SECRET_KEY", "s3cr3t-must-not-leak")
    spec, platform, text = compiled(
        tmp_path, "search.rounds=1", "cluster.s3_endpoint=minio:9000", "cluster.s3_secret=my-s3"
    )
    assert "must-not-leak" not in text
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    envs = [s for e in k8s.values() for s in e.get("secretAsEnv", [])]
    assert envs and all(s["secretName"] == "my-s3" for s in envs)
    assert {kv["envVar"] for s in envs for kv in s["keyToEnv"]} == {
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
    }


def test_components_use_the_pinned_image_and_no_pip(tmp_path: Path) -> None:
    from nao_kfp import __version__

    spec, _p, text = compiled(tmp_path, "search.rounds=2")
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {f"ghcr.io/nao-kfp/nao-kfp:{__version__}"}
    assert "pip install" not in text
    spec2, _p, _t = compiled(tmp_path, "search.rounds=1", "cluster.image=registry.local/nao:9.9")
    assert {e["container"]["image"] for e in spec2["deploymentSpec"]["executors"].values()} == {
        "registry.local/nao:9.9"
    }


def test_display_names_on_every_task(tmp_path: Path) -> None:
    spec, _p, _t = compiled(tmp_path, "search.rounds=2")
    dags = [spec["root"]["dag"]] + [c["dag"] for c in spec["components"].values() if "dag" in c]
    names = [
        t["taskInfo"]["name"]
        for d in dags
        for t in d["tasks"].values()
        if "parameterIterator" not in t
    ]
    assert {"round 1", "round 2", "train children", "decode new architectures"} <= set(names)
    assert all(" " in n or n in ("report",) for n in names), names


def test_nao_compile_is_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["compile", "--set", "search.rounds=2", "-o"]
    assert main([*args, str(tmp_path / "a.yaml")]) == 0
    assert main([*args, str(tmp_path / "b.yaml")]) == 0
    assert (tmp_path / "a.yaml").read_bytes() == (tmp_path / "b.yaml").read_bytes()
    assert main(["compile", "--set", "search.rounds=3", "-o", str(tmp_path / "c.yaml")]) == 0
    assert (tmp_path / "c.yaml").read_bytes() != (tmp_path / "a.yaml").read_bytes()


def test_nao_compile_rejects_a_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--set", "search.round=2", "-o", str(tmp_path / "x.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "search.round" in err and "rounds" in err
    assert not (tmp_path / "x.yaml").exists()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def test_nao_submit_unreachable_host_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    assert main(["submit", "--host", host, "--experiment", "nao"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and host in err and "cannot reach" in err


def test_nao_submit_needs_host_and_experiment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["submit", "--experiment", "nao"])
    assert e.value.code == 2 and "--host" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["submit", "--host", "http://127.0.0.1:1"])
    assert e.value.code == 2 and "--experiment" in capsys.readouterr().err


def test_final_training_is_one_gpu_task_only_when_enabled(tmp_path: Path) -> None:
    off, _p, _t = compiled(tmp_path, "search.rounds=2")
    assert not [t for t in leaf_tasks(off, off["root"]["dag"]) if t[0].startswith("final")]
    on, platform, _t = compiled(tmp_path, "search.rounds=2", "final.enabled=true")
    finals = [t for t in leaf_tasks(on, on["root"]["dag"]) if t[0].startswith("final")]
    assert len(finals) == 1
    (_name, label) = finals[0]
    acc = on["deploymentSpec"]["executors"][label]["container"]["resources"]["accelerator"]
    assert acc["resourceType"] == "nvidia.com/gpu"
    tolerations = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][label]
    assert tolerations["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert "model" in on["root"]["outputDefinitions"]["artifacts"]
