"""NAO as a Katib algorithm: the suggestion service over gRPC on 127.0.0.1, with Katib's part
played by tests/katib_play.py and the trials answered by a generated NAS-Bench-201 table."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from katib_play import NAO, Katib, Server, experiment_doc
from kubeflow.katib import katib_api_pb2 as api

from nao_kfp.cli import main
from nao_kfp.katib.experiment import experiment_message, problems, read_experiment
from nao_kfp.katib.service import HEALTH_SERVICE
from nao_kfp.katib.suggest import NotReady, TrialResult, open_round, propose
from nao_kfp.spaces import get_space
from nao_kfp.tabular import Table, TableSpec, generate_table, read_table, write_table

SPACE = get_space("nb201")
BUDGET, SEED = 22, 3  # 10 initial cells, then two rounds of 6


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("katib") / "nb201.csv"
    write_table(path, generate_table(SPACE, TableSpec(seed=5, rows=400)))
    return path


@pytest.fixture(scope="module")
def table(table_csv: Path) -> Table:
    return read_table(table_csv, SPACE)


@pytest.fixture(scope="module")
def benchmark_archs(table_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """What `nao benchmark --strategy nao` queries on the table, in order."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    args = ["benchmark", "--space", "nb201", "--table", str(table_csv), "--strategy", "nao",
            "--queries", str(BUDGET), "--seeds", str(SEED), "--json", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    return [h[1] for h in json.loads(out.read_text())["histories"]["nao"][str(SEED)]]


def _experiment(table_csv: Path, **kw: Any) -> Any:
    return experiment_message(experiment_doc(table_csv, budget=BUDGET, seed=SEED, **kw))


# ---------------------------------------------------------------- the search over gRPC


@pytest.mark.slow
def test_a_katib_driven_search_queries_what_nao_benchmark_queries(
    table_csv: Path, table: Table, benchmark_archs: list[str], tmp_path: Path
) -> None:
    katib = Katib(_experiment(table_csv), table)
    server = Server(tmp_path / "work")
    try:
        katib.run(server.stub, until_trials=10)
        katib.finish_running()
        # round 2 needs the controller's first fit: Katib gives up on a slow call (after 60 s),
        # the service finishes it anyway and answers the retry from its cache
        with pytest.raises(grpc.RpcError) as late:
            katib.ask(server.stub, 3, timeout=0.05)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        katib.run(server.stub)
    finally:
        server.kill()
    assert katib.archs == benchmark_archs
    assert len(set(katib.archs)) == BUDGET
    # the rounds are real: each waited for the previous one's trials to finish
    assert any("round 3 is proposed when" in e for e in katib.errors)
    rounds = [int(t.spec.labels["nao-kfp/round"]) for t in katib.trials]
    assert rounds == [1] * 10 + [2] * 6 + [3] * 6
    assert {t.spec.labels["nao-kfp/source"] for t in katib.trials[10:]} <= {"nao", "nao-nearest"}


@pytest.mark.slow
def test_a_killed_and_restarted_server_proposes_the_same(
    table_csv: Path, table: Table, benchmark_archs: list[str], tmp_path: Path
) -> None:
    """Killed inside round 2's fit, then inside its decoding (same cache), then between two
    calls and restarted with nothing cached: the trials alone give the same proposals."""
    faults = {"NAO_FAULTS": "fit:kill:1,decode:kill:1", "NAO_FAULTS_DIR": str(tmp_path)}
    katib = Katib(_experiment(table_csv), table)
    kills = 0
    server = Server(tmp_path / "work", env=faults)
    while kills < 2:
        with pytest.raises(grpc.RpcError):  # the server dies inside the call
            katib.run(server.stub)
        assert server.proc.wait(timeout=60) < 0  # killed by the fault, not exited
        kills += 1
        server = Server(tmp_path / "work", env=faults)
    assert len(katib.trials) == 10  # round 2 is still unproposed
    katib.run(server.stub, until_trials=13)
    server.kill()
    server = Server(tmp_path / "fresh")
    try:
        katib.run(server.stub)
    finally:
        server.kill()
    assert katib.archs == benchmark_archs


def test_validate_algorithm_settings_answers_one_line_per_bad_setting(
    table_csv: Path, tmp_path: Path
) -> None:
    server = Server(tmp_path / "work")
    try:
        ok = _experiment(table_csv)
        server.stub.ValidateAlgorithmSettings(api.ValidateAlgorithmSettingsRequest(experiment=ok))
        bad = copy.deepcopy(ok)
        for name, value in [("search.top_k", "-1"), ("controller.epochz", "3"),
                            ("search.max_evaluations", "30")]:  # fmt: skip
            bad.spec.algorithm.algorithm_settings.add(name=name, value=value)
        with pytest.raises(grpc.RpcError) as err:
            server.stub.ValidateAlgorithmSettings(
                api.ValidateAlgorithmSettingsRequest(experiment=bad)
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        lines = err.value.details().split("; ")
        assert len(lines) == 3
        keys = ["search.top_k", "controller.epochz", "search.max_evaluations"]
        for line, key in zip(lines, keys, strict=True):
            assert line.startswith(f"{key}: "), line
        # Katib probes the service with gRPC health checks on this service name
        health = health_pb2_grpc.HealthStub(server.channel)
        reply = health.Check(health_pb2.HealthCheckRequest(service=HEALTH_SERVICE))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        server.kill()


# ---------------------------------------------------------------- the Experiment


def _doc(table_csv: Path, **spec: Any) -> dict[str, Any]:
    doc = experiment_doc(table_csv, budget=BUDGET, seed=SEED)
    doc["spec"].update(spec)
    return doc


@pytest.mark.parametrize(
    "change, key",
    [
        ({"parameters": []}, "spec.parameters"),
        ({"parameters": [{"name": "arch", "parameterType": "categorical",
                          "feasibleSpace": {"list": ["darts"]}}]}, "spec.parameters[arch]"),
        ({"parameters": [], "nasConfig": {"graphConfig": {"numLayers": 8},
                                          "operations": [{"operationType": "convolution"}]}},
         "spec.nasConfig"),
        ({"objective": {"type": "minimize", "objectiveMetricName": "loss"}}, "spec.objective.type"),
        ({"maxTrialCount": 0}, "spec.maxTrialCount"),
        ({"maxTrialCount": 5}, "spec.maxTrialCount"),  # below search.initial_archs
        ({"maxTrialCount": 5000}, "spec.maxTrialCount"),  # more rounds than a search runs
    ],
    ids=["no-parameter", "unknown-space", "nas-config", "minimize", "no-budget", "tiny-budget",
         "huge-budget"],
)  # fmt: skip
def test_an_experiment_nao_cannot_run_is_refused_naming_its_field(
    table_csv: Path, change: dict[str, Any], key: str
) -> None:
    (line,) = problems(experiment_message(_doc(table_csv, **change)))
    assert line.startswith(f"{key}: ")


@pytest.mark.parametrize(
    "name, value, key",
    [
        ("evaluator.kind", "supernet", "evaluator.kind"),
        ("search.early_stop", "true", "search.early_stop"),
        ("search.rounds", "4", "search.rounds"),
        ("search.space", "enas", "search.space"),
        ("config", "no-such-preset", "config"),
        ("search.initial_archs", "ten", "search.initial_archs"),
        ("evaluator.table", "/nonexistent.csv", "evaluator.table"),
    ],
)
def test_a_bad_setting_is_refused_naming_it(
    table_csv: Path, name: str, value: str, key: str
) -> None:
    doc = _doc(table_csv)
    settings = doc["spec"]["algorithm"]["algorithmSettings"]
    settings[:] = [s for s in settings if s["name"] != name] + [{"name": name, "value": value}]
    found = problems(experiment_message(doc))
    assert len(found) == 1 and key in found[0].split(":")[0], found


def test_the_budget_and_settings_become_the_benchmark_s_config(table_csv: Path) -> None:
    from nao_kfp.commands.benchmark import benchmark_config
    from nao_kfp.strategies.nao import benchmark_config as run_config

    exp = read_experiment(_experiment(table_csv))
    assert (exp.parameter, exp.metric) == ("arch", "dev_accuracy")
    cfg = benchmark_config("nb201", None, [], table=str(table_csv))
    want = run_config(cfg, read_table(table_csv, SPACE), BUDGET, SEED)
    assert exp.cfg.search == want.search
    assert exp.cfg.controller == want.controller


# ---------------------------------------------------------------- proposals without a server


# a controller that fits in a moment, for the tests that only need some proposals
QUICK = {"controller.epochs": "5", "controller.pseudo_labels": "0", "search.proxy_seed": "0"}


def _results(table: Table, entries: list[Any]) -> dict[str, TrialResult]:
    out = {}
    for e in entries:
        row = table.get_id(e.id)
        assert row is not None
        out[e.id] = TrialResult(f"t-{e.id[:6]}", "ok", value=row.valid / 100.0)
    return out


def test_katib_gets_exactly_what_it_asks_for_repeating_the_round_s_last(
    table_csv: Path, table: Table, tmp_path: Path
) -> None:
    exp = read_experiment(_experiment(table_csv, settings=QUICK))
    r, entries = open_round(exp, {}, tmp_path)
    assert r == 1 and len(entries) == 10
    running = {e.id: TrialResult("t", "running") for e in entries[:8]}
    got = propose(exp, running, 5, tmp_path)
    assert [e.id for e in got.picks] == [e.id for e in entries[8:10] * 3][:5]


def test_a_cache_that_disagrees_with_the_trials_is_rebuilt(
    table_csv: Path, table: Table, tmp_path: Path
) -> None:
    exp = read_experiment(_experiment(table_csv, settings=QUICK))
    _, first = open_round(exp, {}, tmp_path / "a")
    results = _results(table, first)
    r, proposed = open_round(exp, results, tmp_path / "a")
    assert r == 2
    # the same experiment's trials, one of them now finished with another score
    changed = dict(results)
    key = first[0].id
    changed[key] = TrialResult("t", "ok", value=1.0 - (results[key].value or 0.0))
    _, again = open_round(exp, changed, tmp_path / "a")
    _, fresh = open_round(exp, changed, tmp_path / "b")
    assert [e.id for e in again] == [e.id for e in fresh]


def test_a_raised_max_trial_count_continues_the_same_search(
    table_csv: Path, table: Table, benchmark_archs: list[str], tmp_path: Path
) -> None:
    """Katib resumes a finished Experiment (resumePolicy LongRunning) with a larger
    maxTrialCount: the search goes on where the smaller budget stopped."""
    first = benchmark_archs[:16]
    results = {}
    for i, text in enumerate(first):
        row = table.get(SPACE.parse(text))
        assert row is not None
        results[row.id] = TrialResult(f"t{i}", "ok", value=row.valid / 100.0)
    small = read_experiment(experiment_message(experiment_doc(table_csv, budget=16, seed=SEED)))
    with pytest.raises(NotReady, match="the search is over"):
        propose(small, results, 1, tmp_path)
    r, entries = open_round(read_experiment(_experiment(table_csv)), results, tmp_path)
    assert r == 3
    assert [SPACE.to_string(e.arch) for e in entries] == benchmark_archs[16:]


# ---------------------------------------------------------------- the trial


# Katib's StdOut metrics collector: its default filter (pkg/metricscollector/v1beta1/common/
# const.go, DefaultFilter) and the RFC 3339 time a line may start with
KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")


def test_a_katib_trial_prints_its_score_as_katib_reads_it(tmp_path: Path) -> None:
    arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    sets = ["child.dev_size=100", "child.train_subset=200", "child.layers=1", "child.channels=4",
            "child.epochs=2", "child.batch_size=50", "child.device=cpu", "child.cpu_threads=1"]  # fmt: skip
    p = subprocess.run(
        [*NAO, "train-child", "--space", "nb201", f"--arch={arch}", "--config", "demo",
         "--out", str(tmp_path / "child"), "--katib", *[x for s in sets for x in ("--set", s)]],
        capture_output=True, text=True, timeout=300, env={**os.environ, "NAO_FAULTS": ""},
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    logs: dict[str, list[tuple[datetime, str]]] = {}
    for line in (p.stdout + p.stderr).splitlines():
        for name, value, *_ in KATIB_FILTER.findall(line):
            stamp = datetime.fromisoformat(line.split(" ", 1)[0])
            logs.setdefault(name, []).append((stamp, value))
    result = json.loads(p.stdout.strip().splitlines()[-1])
    scores = logs["dev_accuracy"]
    assert len(scores) == 3  # each epoch's, then the result's
    latest = max(scores, key=lambda s: s[0])  # Katib's metricStrategy latest
    assert float(latest[1]) == result["dev_accuracy"]
    assert float(logs["params"][-1][1]) == result["params"]


def test_nao_katib_check_reads_an_experiment_file(table_csv: Path, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment_doc(table_csv, budget=BUDGET, seed=SEED)))
    p = subprocess.run([*NAO, "katib", "check", str(path)], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "22 trials: 10 first, then 6 a round, 3 rounds" in p.stdout
    doc = experiment_doc(table_csv, budget=BUDGET, seed=SEED)
    doc["spec"]["objective"]["type"] = "minimize"
    path.write_text(yaml.safe_dump(doc))
    p = subprocess.run([*NAO, "katib", "check", str(path)], capture_output=True, text=True,
                       timeout=120)  # fmt: skip
    assert p.returncode == 2
    assert p.stderr.startswith("nao: error: spec.objective.type: ") and p.stderr.count("\n") == 1


def test_nothing_outside_the_katib_package_imports_it() -> None:
    """The base install runs without Katib's stubs: `nao` starts, and only `nao katib` needs
    them."""
    code = "import sys; import nao_kfp.cli as c; c.build_parser(); print('kubeflow' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "False", p.stderr
