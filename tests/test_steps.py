"""The Algorithm-1 steps, called directly (no KFP)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from search_tiny import synthetic_pool, tiny_config

from nao_kfp import outcome, steps
from nao_kfp.pool import entry, read_pool, write_pool
from nao_kfp.records import (
    History,
    RoundRecord,
    read_history,
    read_result,
    read_selection,
    write_record,
)
from nao_kfp.spaces import get_space


def test_sample_is_seeded_distinct_and_pending(tmp_path: Path) -> None:
    cfg = tiny_config()
    steps.sample(cfg, tmp_path / "a.jsonl", tmp_path / "h.json")
    steps.sample(cfg, tmp_path / "b.jsonl", tmp_path / "h.json")
    a, b = read_pool(tmp_path / "a.jsonl"), read_pool(tmp_path / "b.jsonl")
    assert [e.id for e in a] == [e.id for e in b]
    assert len({e.id for e in a}) == cfg.search.initial_archs
    assert all(e.status == "pending" and e.round == 1 and e.source == "random" for e in a)
    steps.sample(tiny_config(None, "search.seed=1"), tmp_path / "c.jsonl", tmp_path / "h.json")
    assert [e.id for e in read_pool(tmp_path / "c.jsonl")] != [e.id for e in a]
    assert read_history(tmp_path / "h.json").rounds == []


def test_shards_partition_the_pending_archs_whatever_the_order() -> None:
    cfg = tiny_config()
    pool = synthetic_pool(cfg, 4)
    space = get_space(cfg.search.space)
    pending = [entry(space, a, round=2) for a in space.sample_unique(11, random.Random(5))]
    mixed = pool + pending
    shards = [steps.shard_entries(mixed, i, 3) for i in range(3)]
    ids = [e.id for s in shards for e in s]
    assert sorted(ids) == sorted(
        e.id for e in pending
    )  # every pending arch, once; no evaluated one
    assert [len(s) for s in shards] == [4, 4, 3]
    random.Random(0).shuffle(mixed)
    assert [[e.id for e in steps.shard_entries(mixed, i, 3)] for i in range(3)] == [
        [e.id for e in s] for s in shards
    ]


def test_merge_fills_results_and_records_the_round(tmp_path: Path) -> None:
    cfg = tiny_config()
    space = get_space(cfg.search.space)
    old = synthetic_pool(cfg, 4)
    new = [entry(space, a, round=2, source="nao", predicted=0.6 + 0.1 * i) for i, a in
           enumerate(space.sample_unique(3, random.Random(9), exclude={e.id for e in old}))]  # fmt: skip
    write_pool(tmp_path / "pool.jsonl", old + new)
    done = [entry(space, e.arch, accuracy=acc, round=2, source="nao", predicted=e.predicted)
            for e, acc in zip(new[:2], (0.7, 0.95), strict=True)]  # fmt: skip
    write_pool(tmp_path / "s0.jsonl", done[:1])
    write_pool(tmp_path / "s1.jsonl", done[1:])
    prior = [RoundRecord(1, best_so_far=max(e.accuracy or 0 for e in old))]
    write_record(tmp_path / "h.json", History(prior))
    (tmp_path / "m1").mkdir()  # the fit that proposed round 2's architectures
    (tmp_path / "m1" / steps.FIT_METRICS).write_text(json.dumps({"hamming": 1.5, "n_train": 4}))
    rec = steps.merge(cfg, 2, tmp_path / "pool.jsonl", [tmp_path / "s0.jsonl", tmp_path / "s1.jsonl"],
                      tmp_path / "h.json", tmp_path / "out.jsonl", tmp_path / "h2.json",
                      model=tmp_path / "m1")  # fmt: skip
    merged = {e.id: e for e in read_pool(tmp_path / "out.jsonl")}
    assert len(merged) == 7 and merged[new[1].id].accuracy == 0.95
    assert merged[new[2].id].status == "failed"  # no shard returned it
    assert rec.evaluated == 2 and rec.failed == 1
    assert rec.best_accuracy == 0.95 and rec.mean_accuracy == pytest.approx(0.825)
    assert rec.best_so_far == 0.95 and rec.improved is True
    assert rec.predicted_mean == pytest.approx(0.65) and rec.real_mean == pytest.approx(0.825)
    assert rec.pairwise_accuracy == 1.0  # 0.6 < 0.7 and 0.7 < 0.95: the order is right
    assert rec.fit == {"hamming": 1.5, "n_train": 4}  # the controller that proposed them
    assert read_history(tmp_path / "h.json").rounds == prior  # the earlier record is untouched
    assert read_history(tmp_path / "h2.json").rounds == [*prior, rec]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A pool of 12 synthetic archs and round 1's controller fitted on it (shared: fits cost)."""
    tmp = tmp_path_factory.mktemp("fitted")
    write_pool(tmp / "pool.jsonl", synthetic_pool(tiny_config(), 12))
    metrics = steps.fit(tiny_config(), 1, tmp / "pool.jsonl", tmp / "m1")
    return tmp, metrics


def test_controller_steps_propose_new_archs(
    fitted: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    cfg = tiny_config()
    src, fit = fitted
    pool = read_pool(src / "pool.jsonl")
    write_record(tmp_path / "h.json", History([RoundRecord(1, best_so_far=0.9, improved=True)]))
    assert fit["n_train"] == 12 and 0.0 <= fit["pairwise_accuracy"] <= 1.0
    assert steps.fit(cfg, 1, src / "pool.jsonl", src / "m1") == fit  # finished: skipped
    steps.optimize(cfg, src / "m1", src / "pool.jsonl", tmp_path / "emb")
    before = (tmp_path / "h.json").read_bytes()
    out = steps.decode(cfg, 1, src / "m1", tmp_path / "emb", src / "pool.jsonl",
                       tmp_path / "h.json", tmp_path / "p2.jsonl")  # fmt: skip
    after = read_pool(tmp_path / "p2.jsonl")
    new = after[len(pool) :]
    assert out["new_archs"] == len(new) > 0 and [e.id for e in after[: len(pool)]] == [
        e.id for e in pool
    ]
    assert {e.id for e in new}.isdisjoint(e.id for e in pool)
    assert all(e.status == "pending" and e.round == 2 and e.source == "nao" for e in new)
    assert all(e.predicted is not None for e in new)
    assert (tmp_path / "h.json").read_bytes() == before  # decode writes only the pool


def test_early_stop_keeps_the_model_and_decodes_nothing(
    fitted: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    cfg = tiny_config(None, "search.early_stop=true")
    src, fit = fitted
    # round 2 brought nothing new: the controller is not refitted
    again = steps.fit(cfg, 2, src / "pool.jsonl", tmp_path / "m2", init_model=src / "m1")
    assert (
        again == fit
        and (tmp_path / "m2" / "model.pt").read_bytes() == (src / "m1" / "model.pt").read_bytes()
    )
    write_record(tmp_path / "h.json", History([RoundRecord(2, best_so_far=0.9, improved=False)]))
    out = steps.decode(cfg, 2, tmp_path / "m2", tmp_path / "nothing", src / "pool.jsonl",
                       tmp_path / "h.json", tmp_path / "p.jsonl")  # fmt: skip
    assert out["stopped"] is True and out["new_archs"] == 0
    assert len(read_pool(tmp_path / "p.jsonl")) == 12


def test_train_children_caches_and_records(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "store")
    steps.sample(cfg, tmp_path / "pool.jsonl", tmp_path / "h.json")
    data = tmp_path / "data"
    steps.prepare_data(cfg, data)
    first = steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 2, data, tmp_path / "r0.jsonl")
    assert first == {"evaluated": 2, "failed": 0, "cached": 0}
    got = read_pool(tmp_path / "r0.jsonl")
    assert all(
        e.status == "ok" and 0.0 <= (e.accuracy or -1) <= 1.0 and e.extra["epochs"] == 1
        for e in got
    )
    # a re-run (another task, same config) takes every finished child from the store
    again = steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 2, data, tmp_path / "again.jsonl")
    assert again["cached"] == 2
    assert [e.accuracy for e in read_pool(tmp_path / "again.jsonl")] == [e.accuracy for e in got]


def test_a_failing_child_is_recorded_and_the_shard_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every child (and its retry) raises, and each one is recorded instead of killing the task
    (tmp_path / "faults").mkdir()
    monkeypatch.setenv("NAO_FAULTS", "child-start:raise:1000")
    monkeypatch.setenv("NAO_FAULTS_DIR", str(tmp_path / "faults"))
    cfg = tiny_config(tmp_path / "store")
    steps.sample(cfg, tmp_path / "pool.jsonl", tmp_path / "h.json")
    out = steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 1, None, tmp_path / "r.jsonl")
    assert out == {"evaluated": 0, "failed": 4, "cached": 0}
    got = read_pool(tmp_path / "r.jsonl")
    assert all(e.status == "failed" and e.error and "\n" not in e.error for e in got)


def test_select_best_and_report(tmp_path: Path) -> None:
    cfg = tiny_config()
    pool = synthetic_pool(cfg, 6)
    write_pool(tmp_path / "pool.jsonl", pool)
    rounds = [RoundRecord(1, evaluated=6, best_accuracy=0.8, mean_accuracy=0.6, best_so_far=0.8),
              RoundRecord(2, evaluated=2, best_accuracy=0.85, mean_accuracy=0.7, best_so_far=0.85,
               predicted_mean=0.75, real_mean=0.7, pairwise_accuracy=1.0, fit={"hamming": 0.5})]  # fmt: skip
    write_record(tmp_path / "h.json", History(rounds))
    chosen = outcome.select_best(cfg, tmp_path / "pool.jsonl", tmp_path / "selection.json")
    best = max(pool, key=lambda e: (e.accuracy, e.id))
    assert chosen.best.id == best.id and chosen.best.dev_accuracy == best.accuracy
    assert read_selection(tmp_path / "selection.json") == chosen
    result = outcome.conclude(cfg, tmp_path / "selection.json", tmp_path / "h.json",
                              tmp_path / "pool.jsonl", tmp_path / "result.json")  # fmt: skip
    assert read_result(tmp_path / "result.json") == result and result.rounds == rounds
    assert result.best == chosen.best and result.final is None
    inline_md = tmp_path / "inline.md"
    paths = outcome.report(cfg, result, tmp_path / "pool.jsonl", tmp_path / "rep",
                           inline_markdown=inline_md)  # fmt: skip
    md = Path(paths["markdown"]).read_text()
    assert best.id in md and "| 2 | 2 | 85.00% |" in md and "accuracy.png" in md
    html = Path(paths["html"]).read_text()
    assert html.count("<svg") == 2 and "data:image/png;base64," in html
    assert Path(paths["plot"]).read_bytes()[:4] == b"\x89PNG"
    for cell in ("normal", "reduce"):  # well-formed SVG: a box per node, an arrow per branch
        svg = ElementTree.fromstring(Path(paths[cell]).read_text())
        groups = [g.get("class") for g in svg.iter("{http://www.w3.org/2000/svg}g")]
        assert groups.count("node") == 2 + 5 + 1 and groups.count("edge") >= 2 * 5 + 1
    assert "](data:image/png;base64," in inline_md.read_text()
    assert "](accuracy.png)" in md and "](accuracy.png)" not in inline_md.read_text()
