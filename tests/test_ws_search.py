"""NAO-WS end to end: a tiny weight-sharing search on digits through the one pipeline (the
supernet evaluator's rounds, its re-rank selection, the final training and export), in-process
and through kfp.local, with progress on stderr, and resumed mid-round after a kill."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest
import torch
import yaml
from nao_kfp.pipelines.local import run_local
from search_tiny import search_cli

from nao_kfp.config import load_config
from nao_kfp.errors import ConfigError
from nao_kfp.loop import run_search
from nao_kfp.pool import PoolEntry
from nao_kfp.records import read_result

TINY_WS = [
    "name=tiny-ws", "evaluator.kind=supernet", "search.shards=1", "search.rounds=2",
    "search.initial_archs=6", "search.top_k=3", "search.new_archs=3",
    "controller.epochs=40", "supernet.epochs=2", "supernet.rounds_every=1", "supernet.layers=1",
    "supernet.channels=4", "supernet.batch_size=64", "supernet.eval_batch_size=100",
    "supernet.rerank_top=2", "supernet.rerank_epochs=1", "child.epochs=1", "child.layers=1",
    "child.channels=4",
]  # fmt: skip
FINAL = [
    "final.enabled=true", "final.rerank_top=1", "final.epochs=1", "final.layers=1",
    "final.channels=4", "final.aux_head=false", "final.batch_size=64", "final.train_subset=300",
    "final.aot_compile=false",  # tests/test_serve.py compiles the suite's one package
]  # fmt: skip


def test_the_ws_shape_follows_the_supernet_schedule() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^search.rounds: NAO-WS scores the pool at supernet epochs 1, 2 .* has 2 rounds; "
        r"got 3 \(leave search.rounds out: it follows the schedule\)$",
    ):
        load_config("demo", [*TINY_WS, "search.rounds=3"])
    # left out (the default preset has none), the rounds follow the schedule
    ws = ["evaluator.kind=supernet", "search.shards=1", "supernet.rounds_every=2"]
    assert load_config(None, [*ws, "supernet.epochs=4"]).search.rounds == 2
    assert load_config(None, [*ws, "supernet.epochs=5"]).search.rounds == 3  # 2, 4 and 5
    with pytest.raises(ConfigError, match=r"^search.shards: NAO-WS trains one supernet"):
        load_config("demo", [*TINY_WS, "search.shards=2"])
    # every space has a supernet now (enas-rnn: child/rnn.py RnnSupernet, tests/test_ws_ptb.py)
    load_config(
        "demo", [*TINY_WS, "search.space=enas-rnn", "child.dataset=ptb", "child.data_dir=x"]
    )
    from nao_kfp.preflight import check_inputs

    with pytest.raises(ConfigError, match=r"^child.data_dir: required for cifar10"):
        check_inputs(load_config("nao-ws-nb201"))  # before the run: the supernet reads CIFAR-10
    assert load_config("demo", [*TINY_WS, "supernet.epochs=5", "supernet.rounds_every=2",
                                "search.rounds=3"]).supernet.schedule() == [2, 4, 5]  # fmt: skip


def test_nao_ws_compiles_through_the_one_factory(tmp_path: Path) -> None:
    from nao_kfp.cli import main

    assert main(["compile", "--config", "nao-ws-cifar10", "-o", str(tmp_path / "ws.yaml")]) == 0
    text = (tmp_path / "ws.yaml").read_text()
    assert "supernet-round" in text and "train-children" not in text
    assert "select-best" in text and "nvidia.com/gpu" in text
    assert not (Path(__file__).parents[1] / "pipelines" / "ws.py").exists()


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[PoolEntry], Path]:
    """The tiny NAO-WS search run in-process once: its pool and its work folder. run_search
    does no final training, so with FINAL's keys it is this same search."""
    work = tmp_path_factory.mktemp("ws") / "w"
    return run_search(load_config("demo", TINY_WS), work), work


@pytest.mark.slow
def test_a_tiny_ws_search_in_process(
    in_process: tuple[list[PoolEntry], Path], tmp_path: Path
) -> None:
    cfg = load_config("demo", TINY_WS)
    pool, work = in_process
    assert len(pool) == 6 + 3 and all(e.status == "ok" for e in pool)
    assert {e.extra["supernet_epoch"] for e in pool} == {2}  # every arch re-scored in round 2
    result = read_result(work / "result.json")
    assert [r.supernet["epoch"] for r in result.rounds] == [1, 2]
    assert len(result.rerank) == 2 and result.best is not None
    win = max(result.rerank, key=lambda r: r.dev_accuracy or 0.0)
    assert result.best.dev_accuracy == win.dev_accuracy and result.best.params == win.params
    assert [r.supernet_score for r in result.rerank] == sorted(
        (e.accuracy for e in pool), reverse=True
    )[:2]
    again = run_search(cfg, tmp_path / "again")  # deterministic on CPU
    assert [(e.id, e.accuracy) for e in again] == [(e.id, e.accuracy) for e in pool]


@pytest.mark.slow
def test_a_tiny_ws_search_through_kfp_local_with_final_training(
    in_process: tuple[list[PoolEntry], Path], tmp_path: Path
) -> None:
    cfg = load_config("demo", [*TINY_WS, *FINAL])
    shown = io.StringIO()
    result = run_local(cfg, tmp_path / "run", show=shown)
    assert result["evaluator"] == "supernet" and len(result["rerank"]) == 2
    assert [r["supernet"]["epoch"] for r in result["rounds"]] == [1, 2]
    # progress a person can watch: supernet epochs with time left, then scoring
    lines = shown.getvalue().splitlines()
    assert any(
        "] round 1/2: supernet epoch 1/2 loss " in line and "s/epoch  (left: round" in line
        for line in lines
    ), lines
    assert "round 2/2: scoring with the supernet 9/9" in "\n".join(lines)
    assert any("] select: re-ranked 2/2" in line for line in lines)
    from nao_kfp.summary import summary_table

    table = summary_table(read_result(tmp_path / "run" / "result.json"))
    assert "supernet loss" in table and "supernet train acc" in table
    assert "supernet loss" in (tmp_path / "run" / "report.md").read_text()
    mirrored = sorted((tmp_path / "run" / "store" / "supernets").rglob("checkpoint.pt"))
    # each round's supernet, mirrored every epoch for a preempted round
    assert [p.parent.name for p in mirrored] == ["to-epoch-1", "to-epoch-2"]
    # each round's supernet numbers as KFP Metrics
    logged = {}
    for path in (tmp_path / "run" / "kfp").rglob("executor_output.json"):
        out = json.loads(path.read_text()).get("artifacts", {}).get("metrics", {})
        for art in out.get("artifacts", []):
            logged.update(art.get("metadata", {}))
    assert {"round1/supernet/loss", "round2/supernet/train_accuracy"} <= set(logged)

    # the final training trained the selection's winner and exported it
    final = result["final"]
    assert final["arch_id"] == result["best"]["id"] and final["epochs"] == 1
    x = torch.rand(3, 1, 8, 8)
    program = torch.export.load(final["program"]).module()
    assert program(x).shape == (3, 10)

    inproc, work = in_process  # the in-process loop is the same search
    pool = [json.loads(x) for x in (tmp_path / "run" / "pool.jsonl").read_text().splitlines()]
    assert [(e["id"], e["accuracy"]) for e in pool] == [(e.id, e.accuracy) for e in inproc]
    assert (
        read_result(work / "result.json").best == read_result(tmp_path / "run" / "result.json").best
    )


def _comparable(out: Path) -> tuple[str, dict]:
    result = json.loads((out / "result.json").read_text())
    for rec in result["rounds"]:  # wall time is what may differ
        rec["fit"] = {
            k: v for k, v in rec["fit"].items() if "second" not in k and k != "s_per_epoch"
        }
        rec["supernet"].pop("seconds")
    return (out / "pool.jsonl").read_text(), result


@pytest.mark.slow
def test_a_ws_search_killed_mid_round_resumes_to_the_same_result(tmp_path: Path) -> None:
    """SIGKILL of the whole `nao search` after the first supernet epoch of round 1 (of 2), then
    the same command again: the round resumes from the mirrored epoch and the search ends as an
    uninterrupted one does."""
    cfg = load_config("demo", [*TINY_WS, "supernet.epochs=4", "supernet.rounds_every=2"])
    cfg_path = tmp_path / "ws.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.to_dict()))
    (tmp_path / "faults").mkdir()
    base = dict(os.environ)
    assert search_cli(cfg_path, tmp_path / "ref", base).returncode == 0
    env = {**base, "NAO_FAULTS": "supernet-epoch:kill:1",
           "NAO_FAULTS_DIR": str(tmp_path / "faults")}  # fmt: skip
    killed = search_cli(cfg_path, tmp_path / "run", env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (tmp_path / "faults" / "supernet-epoch-kill").read_text() == "1"
    again = search_cli(cfg_path, tmp_path / "run", env)
    assert again.returncode == 0, again.stderr[-2000:]
    # round 1 went on at epoch 2: epoch 1 was not trained again
    assert "round 1/2: supernet epoch 1/4" not in again.stderr
    assert "round 1/2: supernet epoch 2/4" in again.stderr
    assert "supernet: resuming at epoch 2" in (tmp_path / "run" / "kfp.log").read_text()
    assert _comparable(tmp_path / "run") == _comparable(tmp_path / "ref")
