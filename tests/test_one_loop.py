"""One search loop: `nao benchmark` and the pipeline run the same NAO, and a run cannot change
the shape it was compiled with."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from nao_kfp.pipelines.local import SearchError, run_local

from nao_kfp.config import config_to_json, load_config
from nao_kfp.evaluators import SyntheticEvaluator, TableEvaluator, make_evaluator
from nao_kfp.loop import rounds_for_budget, run_search
from nao_kfp.pool import read_pool
from nao_kfp.spaces import get_space
from nao_kfp.strategies import make_strategy
from nao_kfp.strategies.nao import benchmark_config
from nao_kfp.tabular import TableSpec, generate_table, read_table, write_table

NB201 = get_space("nb201")
SMALL = [
    "search.initial_archs=8",
    "search.top_k=3",
    "search.new_archs=4",
    "search.shards=2",
    "controller.epochs=8",
    "search.warm_epochs=3",
]


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table") / "nb201.csv"
    write_table(path, generate_table(NB201, TableSpec(seed=3, rows=400)))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_the_table_pipeline_and_the_benchmark_give_the_same_pool(
    table_csv: Path, tmp_path: Path, seed: int
) -> None:
    budget = 16
    cfg = load_config("nb201", SMALL)
    table = read_table(table_csv, NB201)
    queries = make_strategy("nao", cfg).run(table, budget, seed=seed)
    run_cfg = benchmark_config(cfg, table, budget, seed)
    assert run_cfg.search.rounds == rounds_for_budget(cfg, budget) == 3
    run_cfg = run_cfg.replace(
        evaluator=dataclasses.replace(run_cfg.evaluator, table=str(table_csv))
    )
    run_local(run_cfg, tmp_path / "run")
    pool = read_pool(tmp_path / "run" / "pool.jsonl")
    assert [(e.id, e.source, e.extra["valid"]) for e in pool] == [
        (q.id, q.source, q.valid) for q in queries
    ]
    # the preset's initial cells come from the zero-cost proxies, in the pipeline as in the benchmark
    assert {e.source for e in pool} >= {"proxy"} and len(pool) == budget


def test_the_in_process_loop_is_deterministic_and_anytime(tmp_path: Path) -> None:
    cfg = load_config("nb201", [*SMALL, "evaluator.kind=synthetic", "search.rounds=4"])
    a = run_search(cfg, tmp_path / "a", evaluator=make_evaluator(cfg))
    b = run_search(cfg, tmp_path / "b")
    assert [(e.id, e.accuracy, e.source) for e in a] == [(e.id, e.accuracy, e.source) for e in b]
    assert len(a) == 8 + 3 * 4 and [e.round for e in a] == [1] * 8 + [2] * 4 + [3] * 4 + [4] * 4
    capped = cfg.replace(search=dataclasses.replace(cfg.search, max_evaluations=14))
    c = run_search(capped, tmp_path / "c")
    assert [e.id for e in c] == [e.id for e in a[:14]]


def test_the_synthetic_evaluator_scores_a_network_not_a_string() -> None:
    import random

    cfg = load_config("demo", ["evaluator.kind=synthetic"])
    ev = SyntheticEvaluator(cfg)
    space = ev.space
    for arch in space.sample_unique(20, random.Random(0)):
        variants = space.symmetric_variants(arch)
        scores = {ev.score(v) for v in variants}
        assert len(scores) == 1 and 0.5 <= scores.pop() <= 0.95


def test_the_table_evaluator_samples_only_rows_and_fails_a_missing_arch(table_csv: Path) -> None:
    import random

    cfg = load_config("nb201", ["evaluator.kind=table", f"evaluator.table={table_csv}"])
    ev = make_evaluator(cfg)
    assert isinstance(ev, TableEvaluator)
    archs = ev.sample(10, random.Random(0), set())
    assert all(ev.table.get(a) is not None for a in archs)
    missing = next(a for a in NB201.sample_unique(50, random.Random(1)) if ev.table.get(a) is None)
    from nao_kfp.pool import entry

    (done,) = ev.evaluate([entry(NB201, missing)])
    assert done.status == "failed" and done.error and "not in the table" in done.error


@pytest.mark.slow
def test_an_edited_config_parameter_fails_in_the_first_task(tmp_path: Path) -> None:
    cfg = load_config("demo", ["evaluator.kind=synthetic", "search.rounds=2"])
    edited = cfg.replace(search=dataclasses.replace(cfg.search, shards=3))
    with pytest.raises(SearchError) as err:
        run_local(cfg, tmp_path / "run", arguments={"config": config_to_json(edited)})
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(
        "search: ConfigError: config: search.shards is 3 in this run's config but the pipeline "
        "was compiled with 2; recompile"
    ), line
    assert not list((tmp_path / "run" / "kfp").rglob("pool"))  # nothing past the first tasks


@pytest.mark.slow
def test_store_fan_in_gives_the_same_search_as_artifact_fan_in(tmp_path: Path) -> None:
    base = ["evaluator.kind=synthetic", "search.rounds=2", "search.shards=2"]
    a = run_local(load_config("demo", base), tmp_path / "artifacts")
    b = run_local(load_config("demo", [*base, "search.fan_in=store"]), tmp_path / "store")
    for r in (a, b):  # wall time is the one thing allowed to differ
        for rec in r["rounds"]:
            rec["fit"] = {
                k: v for k, v in rec["fit"].items() if "second" not in k and k != "s_per_epoch"
            }
    assert a == b
    assert (tmp_path / "artifacts" / "pool.jsonl").read_text() == (
        tmp_path / "store" / "pool.jsonl"
    ).read_text()
    # the shards really went through the store
    assert len(list((tmp_path / "store" / "store" / "shards").rglob("*.jsonl"))) == 2 * 2


def test_a_table_budget_uses_its_params_column(tmp_path: Path) -> None:
    from nao_kfp.errors import ConfigError
    from nao_kfp.tabular import Table

    base = generate_table(NB201, TableSpec(seed=5, rows=400))
    rows = [
        dataclasses.replace(r, params=1000 + (i * 7919) % 5000) for i, r in enumerate(base.rows)
    ]
    write_table(tmp_path / "t.csv", Table(NB201, rows))
    table = read_table(tmp_path / "t.csv", NB201)
    assert [r.params for r in table.rows] == [r.params for r in rows]
    limit = sorted(r.params or 0 for r in rows)[len(rows) // 3]
    cfg = load_config("nb201", [*SMALL, "evaluator.kind=table", f"evaluator.table={tmp_path / 't.csv'}",
                                f"search.max_params={limit}", "search.rounds=3"])  # fmt: skip
    pool = run_search(cfg, tmp_path / "w")
    assert len(pool) == 16
    assert all((table.get(e.arch).params or 0) <= limit for e in pool)  # type: ignore[union-attr]
    write_table(tmp_path / "bare.csv", base)
    with pytest.raises(
        ConfigError, match=r"^search.max_params: the table .*bare.csv needs a params column"
    ):
        make_evaluator(load_config("nb201", ["evaluator.kind=table", f"evaluator.table={tmp_path / 'bare.csv'}",
                                             "search.max_params=10"]))  # fmt: skip
