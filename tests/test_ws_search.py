"""NAO-WS end to end: a tiny weight-sharing search on digits, in-process and through kfp.local
(the one-GPU pipeline variant), with a resume that reuses the mirrored supernet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from nao_kfp.pipelines.local import run_local

from nao_kfp.config import load_config
from nao_kfp.errors import ConfigError
from nao_kfp.loop import run_search
from nao_kfp.records import read_result

TINY_WS = [
    "name=tiny-ws", "evaluator.kind=supernet", "search.shards=1", "search.rounds=2",
    "search.initial_archs=6", "search.top_k=3", "search.new_archs=3",
    "controller.epochs=40", "supernet.epochs=2", "supernet.rounds_every=1", "supernet.layers=1",
    "supernet.channels=4", "supernet.batch_size=64", "supernet.eval_batch_size=100",
    "supernet.rerank_top=2", "supernet.rerank_epochs=1", "child.epochs=1", "child.layers=1",
    "child.channels=4",
]  # fmt: skip


def test_the_ws_shape_follows_the_supernet_schedule() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^search.rounds: NAO-WS scores the pool at supernet epochs 1, 2 .* has 2 rounds; got 3$",
    ):
        load_config("demo", [*TINY_WS, "search.rounds=3"])
    with pytest.raises(ConfigError, match=r"^search.shards: NAO-WS trains one supernet"):
        load_config("demo", [*TINY_WS, "search.shards=2"])
    with pytest.raises(ConfigError, match=r"^evaluator.kind: supernet needs search.space"):
        load_config(
            "demo", [*TINY_WS, "search.space=enas-rnn", "child.dataset=ptb", "child.data_dir=x"]
        )


@pytest.mark.slow
def test_a_tiny_ws_search_in_process(tmp_path: Path) -> None:
    cfg = load_config("demo", TINY_WS)
    pool = run_search(cfg, tmp_path / "w")
    assert len(pool) == 6 + 3 and all(e.status == "ok" for e in pool)
    assert {e.extra["supernet_epoch"] for e in pool} == {2}  # every arch re-scored in round 2
    result = read_result(tmp_path / "w" / "result.json")
    assert [r.supernet["epoch"] for r in result.rounds] == [1, 2]
    assert len(result.rerank) == 2 and result.best is not None
    assert result.best.id in {r["id"] for r in result.rerank}
    again = run_search(cfg, tmp_path / "again")  # deterministic on CPU
    assert [(e.id, e.accuracy) for e in again] == [(e.id, e.accuracy) for e in pool]


@pytest.mark.slow
def test_a_tiny_ws_search_through_kfp_local(tmp_path: Path) -> None:
    cfg = load_config("demo", TINY_WS)
    result = run_local(cfg, tmp_path / "run")
    assert result["evaluator"] == "supernet" and len(result["rerank"]) == 2
    assert [r["supernet"]["epoch"] for r in result["rounds"]] == [1, 2]
    from nao_kfp.report import summary_table

    table = summary_table(result)
    assert "supernet loss" in table and "supernet train acc" in table
    assert "supernet loss" in (tmp_path / "run" / "report.md").read_text()
    mirrored = sorted((tmp_path / "run" / "store" / "supernets").rglob("checkpoint.pt"))
    # each round's supernet, mirrored every epoch for a preempted round
    assert [p.parent.name for p in mirrored] == ["to-epoch-1", "to-epoch-2"]
    inproc = run_search(cfg, tmp_path / "w")
    pool = [json.loads(x) for x in (tmp_path / "run" / "pool.jsonl").read_text().splitlines()]
    assert [(e["id"], e["accuracy"]) for e in pool] == [(e.id, e.accuracy) for e in inproc]
