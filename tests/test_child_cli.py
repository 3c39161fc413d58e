"""`nao params` and `nao train-child` through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_child_nets import NAONET_B

from nao_kfp.cli import main

NAO = [sys.executable, "-m", "nao_kfp.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NAO, *args], capture_output=True, text=True, timeout=300)


def test_params_prints_the_paper_count() -> None:
    p = run("params", "--space", "enas", "--format", "official", "--arch", NAONET_B,
            "--layers", "5", "--channels", "36")  # fmt: skip
    assert p.returncode == 0, p.stderr
    counts = json.loads(p.stdout)
    assert abs(counts["params_without_aux"] - 2.5e6) / 2.5e6 < 0.01
    assert counts["params"] > counts["params_without_aux"] and counts["macs"] > 0


def test_train_child_prints_a_json_line_and_writes_the_result(tmp_path: Path) -> None:
    arch = "normal[sep_conv_3x3~0 identity~1 | avg_pool_3x3~1 sep_conv_5x5~2 | max_pool_3x3~0 identity~3 | sep_conv_3x3~4 identity~0 | avg_pool_3x3~2 sep_conv_3x3~1] reduce[sep_conv_3x3~0 max_pool_3x3~1 | identity~2 sep_conv_5x5~0 | avg_pool_3x3~3 identity~1 | sep_conv_3x3~0 max_pool_3x3~4 | identity~5 sep_conv_5x5~3]"
    sets = ["child.dev_size=100", "child.train_subset=200", "child.layers=1", "child.channels=4",
            "child.epochs=1", "child.batch_size=50", "child.device=cpu", "child.cpu_threads=1"]  # fmt: skip
    args = [
        "train-child",
        "--space",
        "enas",
        "--arch",
        arch,
        "--config",
        "demo",
        "--out",
        str(tmp_path),
    ]
    p = run(*args, *[x for s in sets for x in ("--set", s)])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert {"dev_accuracy", "params", "seconds"} <= result.keys()
    assert json.loads((tmp_path / "result.json").read_text()) == result
    assert "epoch 1/1" in p.stderr


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # in-process: the same main() the subprocess runs, without another interpreter start
    code = main(["params", "--space", "enas", "--format", "official", "--arch", "0 1 2",
                 "--layers", "1", "--channels", "4"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "expected 40 integers" in err
    code = main(["train-child", "--space", "enas", "--arch", "normal[]", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "normal cell" in err
