"""Priors (search.prior): pools of earlier searches on other data sets, counted by ranks, in the
first population, in every fit, in the pipeline (importers) and in the benchmark."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml

from nao_kfp import outcome
from nao_kfp import prior as priors
from nao_kfp.cli import main
from nao_kfp.config import load_config
from nao_kfp.controller import fit, pairwise_accuracy
from nao_kfp.loop import run_search
from nao_kfp.pool import entry, read_pool, write_pool
from nao_kfp.records import read_history, read_result
from nao_kfp.spaces import get_space
from nao_kfp.strategies import make_strategy
from nao_kfp.strategies.nao import benchmark_config
from nao_kfp.tabular import TableSpec, generate_table, write_table

NB201 = get_space("nb201")
TABLE = generate_table(NB201, TableSpec(seed=5, rows=600))
SMALL = [
    "search.initial_archs=8",
    "search.top_k=3",
    "search.new_archs=4",
    "controller.epochs=8",
    "controller.pseudo_labels=40",
    "controller.pseudo_epochs=1",
    "search.warm_epochs=2",
    "search.warm_pseudo_labels=20",
]


def _pool_file(path: Path, rows, scale: float, offset: float) -> Path:
    """A prior: table rows with their accuracy on another scale (another data set)."""
    write_pool(path, [entry(NB201, r.arch, accuracy=offset + scale * r.valid / 100) for r in rows])
    return path


@pytest.fixture
def prior_file(tmp_path: Path) -> Path:
    return _pool_file(tmp_path / "prior.jsonl", TABLE.rows[:120], 0.5, 0.1)


def test_each_source_counts_by_ranks_and_a_shared_arch_gets_the_mean() -> None:
    a = [
        entry(NB201, r.arch, accuracy=x)
        for r, x in zip(TABLE.rows[:3], [0.9, 0.7, 0.8], strict=True)
    ]
    b = [
        entry(NB201, r.arch, accuracy=x)
        for r, x in zip(TABLE.rows[2:5], [0.1, 0.3, 0.2], strict=True)
    ]
    got = {e.id: e for e in priors.prior_set([("a", a), ("b", b)])}
    assert [got[e.id].accuracy for e in a[:2]] == [1.0, 0.0]
    assert got[a[2].id].accuracy == pytest.approx((0.5 + 0.0) / 2)  # 2nd of a, worst of b
    assert got[a[2].id].extra[priors.SOURCE] == "a, b"
    assert priors.quantiles([3.0, 1.0, 1.0, 2.0]) == [
        1.0,
        pytest.approx(1 / 6),
        pytest.approx(1 / 6),
        pytest.approx(2 / 3),
    ]


def test_targets_land_on_the_searchs_own_scale_and_skip_what_it_evaluated() -> None:
    cfg = load_config("nb201", ["evaluator.kind=synthetic"])
    prior = priors.prior_set(
        [
            (
                "p",
                [
                    entry(NB201, r.arch, accuracy=0.2 + i / 100)
                    for i, r in enumerate(TABLE.rows[:11])
                ],
            )
        ]
    )
    own = [
        entry(NB201, r.arch, accuracy=a)
        for r, a in zip(TABLE.rows[10:13], [0.6, 0.7, 0.9], strict=True)
    ]
    got = priors.targets(cfg, prior, own)
    assert len(got) == 10 and own[0].id not in {e.id for e in got}
    accs = [e.accuracy for e in got]
    assert accs == sorted(accs) and accs[0] == pytest.approx(0.6) and max(accs) <= 0.9
    z = priors.targets(
        dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, prior_targets="zscore")),
        prior,
        own,
    )
    assert all(0.6 <= (e.accuracy or 0) <= 0.9 for e in z)


def test_the_weight_halves_every_half_life() -> None:
    cfg = load_config("nb201", ["search.prior_weight=0.8", "search.prior_half_life=20"])
    assert [priors.weight(cfg, n) for n in (0, 20, 40)] == pytest.approx([0.8, 0.4, 0.2])
    assert priors.weight(load_config("nb201", []), 500) == 1.0


def test_a_prior_teaches_the_predictor_the_order_it_has_not_seen_itself(prior_file: Path) -> None:
    cfg = load_config("nb201", ["controller.epochs=40", "controller.pseudo_labels=0"])
    own = [entry(NB201, r.arch, accuracy=r.valid / 100) for r in TABLE.rows[200:210]]
    unseen = [entry(NB201, r.arch, accuracy=r.valid / 100) for r in TABLE.rows[:120]]
    prior = priors.targets(cfg, priors.gather(cfg, [str(prior_file)]), own)

    def ranks(model) -> float:
        return pairwise_accuracy(
            model.predict([e.arch for e in unseen]), [e.accuracy for e in unseen]
        )

    without, _ = fit(NB201, own, cfg.controller, seed=0)
    with_prior, _ = fit(NB201, own, cfg.controller, seed=0, prior=prior, prior_weight=1.0)
    assert ranks(with_prior) > max(0.8, ranks(without) + 0.2)


def test_a_search_with_a_prior_starts_from_its_best_and_every_fit_records_it(
    prior_file: Path, tmp_path: Path
) -> None:
    overrides = [*SMALL, "evaluator.kind=synthetic", "search.rounds=3",
                 f"search.prior=[{prior_file}]", "search.prior_seed=3", "search.prior_half_life=8"]  # fmt: skip
    cfg = load_config("nb201", overrides)
    pool = run_search(cfg, tmp_path / "a")
    best = priors.best(priors.gather(cfg, [str(prior_file)]), 3)
    # the priors' best first, then the preset's search.proxy_seed cells (3 + 5 of 8)
    assert [e.arch for e in pool[:3]] == best
    assert [e.source for e in pool[:8]] == ["prior"] * 3 + ["proxy"] * 5
    history = read_history(tmp_path / "a" / "history-3.json").rounds
    assert history[0].fit == {}  # no fit proposed round 1's architectures
    fits = [h.fit for h in history[1:]]  # the fits that proposed rounds 2 and 3
    assert [f["prior"] for f in fits] == [f"{prior_file} (120)"] * 2
    assert [f["prior_weight"] for f in fits] == pytest.approx([0.5**1, 0.5**1.5])  # 8, 12 own
    work = tmp_path / "a"
    result = read_result(work / "result.json")  # run_search concluded the search
    outcome.report(cfg, result, work / "pool-3.jsonl", work / "report")
    md = (work / "report" / "report.md").read_text()
    assert "## Priors" in md and f"`{prior_file} (120)`" in md
    assert "0.5 (fit for round 2), 0.35 (fit for round 3)" in md
    again = run_search(cfg, tmp_path / "b")
    assert [(e.id, e.accuracy) for e in again] == [(e.id, e.accuracy) for e in pool]
    plain = run_search(load_config("nb201", [*overrides[:-3], "search.rounds=3"]), tmp_path / "c")
    assert [e.id for e in plain] != [e.id for e in pool]


def _compiled(tmp_path: Path, *overrides: str) -> dict:
    out = tmp_path / "p.yaml"
    assert main(["compile", "--config", "nb201", "--set", "evaluator.table=t.csv", "--set", "search.rounds=2", *[a for o in overrides for a in ("--set", o)], "-o", str(out)]) == 0  # fmt: skip
    return next(yaml.safe_load_all(out.read_text()))


def test_the_compiled_pipeline_imports_each_prior_by_a_uri_parameter(tmp_path: Path) -> None:
    uris = ["s3://pools/c100/pool.jsonl", "minio://mlpipeline/in16/pool.jsonl"]
    ir = _compiled(tmp_path, f"search.prior={json.dumps(uris)}")
    params = ir["root"]["inputDefinitions"]["parameters"]
    assert [params[f"prior_{i}"]["defaultValue"] for i in (1, 2)] == uris
    importers = {k: v for k, v in ir["deploymentSpec"]["executors"].items() if "importer" in v}
    assert importers and all(
        v["importer"]["artifactUri"] == {"runtimeParameter": "uri"} for v in importers.values()
    )
    tasks = ir["root"]["dag"]["tasks"]
    assert {t["inputs"]["parameters"]["uri"]["componentInputParameter"] for t in tasks.values() if t["componentRef"]["name"].startswith("comp-importer")} == {"prior_1", "prior_2"}  # fmt: skip
    assert "sample" not in tasks and "sample-prior" in tasks
    plain = _compiled(tmp_path)
    assert not any(k.startswith("prior_") for k in plain["root"]["inputDefinitions"]["parameters"])


@pytest.mark.slow
@pytest.mark.parametrize("fan_in", ["artifacts", "store"])
def test_nao_search_with_a_prior_through_kfp_local_is_the_in_process_search(
    prior_file: Path, tmp_path: Path, fan_in: str
) -> None:
    from nao_kfp.pipelines.local import run_local

    csv = tmp_path / "t.csv"
    write_table(csv, TABLE)
    cfg = load_config("nb201", [*SMALL, f"evaluator.table={csv}", f"search.prior=[{prior_file}]",
                                "search.prior_seed=2", f"search.fan_in={fan_in}",
                                f"cluster.store_dir={tmp_path / 'store'}"])  # fmt: skip
    cfg = benchmark_config(cfg, TABLE, 16, 2)
    cfg = cfg.replace(evaluator=dataclasses.replace(cfg.evaluator, table=str(csv)))
    result = run_local(cfg, tmp_path / "run")
    pool = read_pool(tmp_path / "run" / "pool.jsonl")
    local = run_search(cfg, tmp_path / "loop")
    assert [(e.id, e.source, e.accuracy) for e in pool] == [
        (e.id, e.source, e.accuracy) for e in local
    ]
    assert pool[0].source == "prior" and len(pool) == 16
    assert result["rounds"][1]["fit"]["prior"] == f"{prior_file} (120)"


def test_benchmark_priors_go_to_nao_and_evolution_not_random(
    prior_file: Path, tmp_path: Path
) -> None:
    cfg = load_config("nb201", SMALL)
    with_prior = load_config(
        "nb201", [*SMALL, f"search.prior=[{prior_file}]", "search.prior_seed=4"]
    )
    from nao_kfp.commands.benchmark import prior_best

    best = prior_best(with_prior, 20)
    evo = make_strategy("evolution", with_prior, prior=best).run(TABLE, 30, seed=0)
    assert [q.arch for q in evo[:20]] == [NB201.to_string(a) for a in best]
    assert {q.source for q in evo[:20]} == {"prior"}
    assert make_strategy("random", with_prior, prior=best).run(TABLE, 30, seed=0) == make_strategy(
        "random", cfg
    ).run(TABLE, 30, seed=0)
    nao = make_strategy("nao", with_prior).run(TABLE, 16, seed=0)
    assert [q.arch for q in nao[:4]] == [NB201.to_string(a) for a in best[:4]]
    assert nao != make_strategy("nao", cfg).run(TABLE, 16, seed=0)


def test_nao_benchmark_prior_flag_and_its_help(
    prior_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "t.csv"
    write_table(csv, TABLE)
    argv = ["benchmark", "--space", "nb201", "--table", str(csv), "--queries", "12", "--seeds", "0",
            "--strategy", "evolution", "--prior", str(prior_file), "--json", str(tmp_path / "r.json"), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert {h[4] for h in doc["histories"]["evolution"]["0"]} == {"prior"}
    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    assert "evolution's initial population" in " ".join(capsys.readouterr().out.split())


def test_an_s3_prior_is_read_through_the_store_in_another_bucket(
    prior_file: Path, s3_env: list[str], tmp_path: Path
) -> None:
    from nao_kfp.store import open_store

    cfg = load_config("nb201", [*s3_env, "evaluator.kind=synthetic"])
    pools = dataclasses.replace(cfg.cluster, s3_bucket="earlier-searches")
    open_store(pools, tmp_path).put_file("c100/pool.jsonl", prior_file)  # framed, checksummed
    got = priors.gather(cfg, ["s3://earlier-searches/c100/pool.jsonl"])
    assert {e.id for e in got} == {e.id for e in read_pool(prior_file)}
    with pytest.raises(
        Exception, match=r"^search.prior\[0\]: s3://earlier-searches/none.jsonl: no such object"
    ):
        priors.gather(cfg, ["s3://earlier-searches/none.jsonl"])
    # a reader creates no bucket: a prior in a bucket that is not there is not there
    from minio import Minio

    with pytest.raises(
        Exception, match=r"^search.prior\[0\]: s3://no-such-bucket/p.jsonl: no such object"
    ):
        priors.gather(cfg, ["s3://no-such-bucket/p.jsonl"])
    host = cfg.cluster.s3_endpoint
    client = Minio(host, access_key=os.environ["S3_ACCESS_KEY"],
                   secret_key=os.environ["S3_SECRET_KEY"], secure=False)  # fmt: skip
    assert not client.bucket_exists("no-such-bucket")
