"""The compiled pipeline stays far below what Kubernetes can store.

A KFP run becomes one Argo Workflow object, and etcd refuses requests over ~1.5 MiB (its
default --max-request-bytes). The backend expands the IR into the workflow: per task a DAG
entry with its inputs, per distinct component a template, plus the driver's copy of each
component spec; we bound that expansion by 5x, so the IR must stay under 300 KiB. With every
round a reused sub-pipeline (written once), each round adds one task, so that bound holds far
beyond the largest number of rounds we document (the nb201 preset's 95).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nao_kfp.pipelines.search import compile_pipeline

from nao_kfp.config import load_config

IR_BOUND = 300 * 1024  # bytes: 5x expansion stays under etcd's 1.5 MiB


@pytest.mark.parametrize(
    ("preset", "rounds", "shards"), [("cifar10", 95, 8), ("nb201", 95, 2), ("demo", 50, 2)]
)
def test_the_largest_documented_search_compiles_under_the_bound(
    tmp_path: Path, preset: str, rounds: int, shards: int
) -> None:
    cfg = load_config(preset, [f"search.rounds={rounds}", f"search.shards={shards}"])
    size = compile_pipeline(cfg, tmp_path / "p.yaml").stat().st_size
    assert size < IR_BOUND, f"{preset} L={rounds}: {size} bytes of IR"


def test_a_round_adds_one_task_not_a_copy_of_the_round(tmp_path: Path) -> None:
    sizes = [
        compile_pipeline(load_config("cifar10", [f"search.rounds={r}"]), tmp_path / f"{r}.yaml")
        .stat()
        .st_size
        for r in (10, 20)
    ]
    per_round = (sizes[1] - sizes[0]) / 10
    assert per_round < 2048, per_round  # a root task and its wiring, ~1.5 KiB
