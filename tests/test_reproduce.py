"""The reproducibility check: compare function, the kfp.local pipeline, the committed reference."""

import copy
import dataclasses
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from nao_kfp.pipelines.reproduce import compile_pipeline, run_local

from nao_kfp import numerics
from nao_kfp.strategies.reproduce import (
    MACHINE_DEPENDENT,
    REFERENCE_PATH,
    ReproduceError,
    ReproduceSpec,
    check_reproduction,
    compare_results,
    load_reference,
    machine,
    run_spec,
    same_machine,
)
from nao_kfp.tabular import TableSpec
from nao_kfp.trace import first_difference

ROOT = Path(__file__).resolve().parent.parent

FAST = ReproduceSpec(
    strategies=("random-unseeded", "evolution-unseeded"), table=TableSpec(seed=0, rows=300)
)


@pytest.fixture(scope="module")
def reference():
    return run_spec(FAST)


def test_an_unchanged_rerun_matches(reference):
    again = run_spec(FAST)
    assert compare_results(reference, again) == []
    check_reproduction(reference, again)


def test_a_perturbed_value_fails_naming_strategy_budget_seed_and_values(reference):
    actual = copy.deepcopy(reference)
    run = next(
        r for r in actual.runs if (r.strategy, r.budget, r.seed) == ("evolution-unseeded", 40, 1)
    )
    before = run.reported
    run.reported = before + 0.01
    with pytest.raises(ReproduceError) as e:
        check_reproduction(reference, actual)
    assert (
        f"evolution-unseeded budget 40 seed 1: reported {before} (reference) != {before + 0.01} (this run)"
        in str(e.value)
    )


def test_a_changed_history_or_table_fails(reference):
    actual = copy.deepcopy(reference)
    actual.histories["random-unseeded"]["0"][4][2] += 1.0
    assert any(
        d.startswith("random-unseeded seed 0: query 5 ") for d in compare_results(reference, actual)
    )
    other = run_spec(
        ReproduceSpec(strategies=("random-unseeded",), table=TableSpec(seed=1, rows=300))
    )
    diffs = compare_results(reference, other)
    assert diffs[0].startswith("table digest:")
    assert any("evolution-unseeded budget 20 seed 0: missing" in d for d in diffs)


def test_local_pipeline_writes_then_checks_the_reference(tmp_path):
    ref = tmp_path / "reference.json"
    ref.write_text(json.dumps({"spec": FAST.to_dict()}))
    written = run_local(ref, update=True, pipeline_root=tmp_path / "root")
    assert (
        compare_results(written, run_spec(FAST)) == []
    )  # the pipeline computes what the library does
    assert run_local(ref, pipeline_root=tmp_path / "root").runs == written.runs
    # the strategy steps pinned portable numerics and recorded the machine they ran on
    assert written.machine is not None
    assert written.machine["numerics"] == "portable"
    assert written.machine["cpu_capability"] == "DEFAULT"
    doc = json.loads(ref.read_text())
    doc["runs"][0]["reported"] = -1.0
    ref.write_text(json.dumps(doc))
    r = doc["runs"][0]
    with pytest.raises(
        ReproduceError,
        match=f"{r['strategy']} budget {r['budget']} seed {r['seed']}: reported -1.0",
    ):
        run_local(ref, pipeline_root=tmp_path / "root")


def test_a_reference_without_results_is_refused_by_a_check_only(tmp_path):
    ref = tmp_path / "reference.json"
    ref.write_text(json.dumps({"spec": FAST.to_dict()}))
    with pytest.raises(ReproduceError, match=r"holds a spec without results; run `nao reproduce "):
        load_reference(ref)
    with pytest.raises(ReproduceError, match=r"holds a spec without results"):
        run_local(ref, pipeline_root=tmp_path / "root")  # before any step runs
    assert not (tmp_path / "root").exists()


def test_pipeline_compiles_with_the_reference_inside(tmp_path):
    ref = tmp_path / "reference.json"
    ref.write_text(json.dumps({"spec": FAST.to_dict()}))
    out = compile_pipeline(tmp_path / "p.yaml", ref)
    docs = list(yaml.safe_load_all(out.read_text()))
    spec = docs[0]
    assert {"comp-tabular-strategy", "comp-compare-reference"} <= set(spec["components"])
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert json.loads(params["reference_json"]["defaultValue"])["spec"] == FAST.to_dict()
    for name in ("exec-tabular-strategy", "exec-compare-reference"):
        container = spec["deploymentSpec"]["executors"][name]["container"]
        assert container["image"].startswith("ghcr.io/") and not container["image"].endswith(
            ":latest"
        )
        assert "pip install" not in " ".join(container["command"])


def test_committed_reference_is_the_default_spec():
    ref = load_reference(REFERENCE_PATH)
    assert ReproduceSpec.from_dict(ref.spec or {}) == ReproduceSpec()
    assert set(ref.strategies) == set(ReproduceSpec().strategies)


def test_committed_reference_reproduces_in_process():
    ref = load_reference(REFERENCE_PATH)
    run = run_spec(ReproduceSpec.from_dict(ref.spec or {}))
    if same_machine(ref, run):
        check_reproduction(ref, run)
        return
    # this process has native numerics (it did not pin): the pure-Python strategies still
    # reproduce exactly, and a NAO difference names both machines and where it began
    diffs = compare_results(ref, run)
    assert [d for d in diffs if not d.startswith(MACHINE_DEPENDENT)] == []
    if diffs:
        assert diffs[0].startswith("nao seed ") and "first difference at round " in diffs[0]
        with pytest.raises(ReproduceError, match="the reference was made on x86_64"):
            check_reproduction(ref, run)


def test_a_nao_difference_on_another_machine_names_both_machines(reference):
    ref = dataclasses.replace(copy.deepcopy(reference), machine={"cpu": "x86_64 OtherVendor"})
    actual = copy.deepcopy(ref)
    actual.machine = machine()
    actual.runs[0].strategy = ref.runs[0].strategy = "nao"
    actual.runs[0].reported += 0.5
    with pytest.raises(ReproduceError) as e:
        check_reproduction(ref, actual)
    assert "the reference was made on x86_64 OtherVendor" in str(e.value)
    assert f"this run on {machine()['cpu']} ({machine()['cpu_capability']}" in str(e.value)
    # a change of machine is no reason to rewrite the reference
    assert "is a bug, not a reason to rewrite the reference" in str(e.value)
    assert "numerics_replay.py" in str(e.value)
    # the same difference on the reference's own machine is a regression, with no excuse
    actual.machine = ref.machine
    with pytest.raises(ReproduceError) as e:
        check_reproduction(ref, actual)
    assert "the reference was made on" not in str(e.value)
    # and random search or evolution must reproduce on any machine
    actual.machine, actual.runs[0].strategy = machine(), "random-unseeded"
    ref.runs[0].strategy = "random-unseeded"
    with pytest.raises(ReproduceError) as e:
        check_reproduction(ref, actual)
    assert "the reference was made on" not in str(e.value)


# ---------------------------------------------------------------- the digest trace


@pytest.fixture(scope="module")
def nao_run():
    """One NAO run of the reproduce spec (budget 20, seed 0), with its trace."""
    return run_spec(ReproduceSpec(strategies=("nao",), budgets=(20,), seeds=(0,)))


def test_a_nao_run_records_its_steps_in_order(nao_run):
    assert nao_run.traces is not None
    entries = nao_run.traces["nao"]["0"]
    steps = list(dict.fromkeys(e[0] for e in entries))
    assert steps == [
        "round 1 fit",
        "round 1 fit, pseudo-labels",
        "round 1 optimize",
        "round 1 decode",
    ]
    names = [e[1] for e in entries]
    assert names[0] == "epoch 1 parameters"
    assert {"predictions", "seeds' embeddings", "df/dh", "candidate tokens"} <= set(names)
    assert all(len(e[2]) == 12 and int(e[2], 16) >= 0 for e in entries)
    # random search and evolution record nothing: their runs are pure Python
    assert set(nao_run.traces) == {"nao"}


def test_a_rerun_has_the_same_trace_and_a_change_is_named_where_it_began(nao_run):
    again = run_spec(ReproduceSpec(strategies=("nao",), budgets=(20,), seeds=(0,)))
    assert again.traces == nao_run.traces
    check_reproduction(nao_run, again)
    changed = copy.deepcopy(again)
    assert changed.traces is not None and nao_run.traces is not None
    entries = changed.traces["nao"]["0"]
    entries[4][2] = "0" * 12  # round 1 fit, epoch 5
    with pytest.raises(ReproduceError) as e:
        check_reproduction(nao_run, changed)
    assert str(e.value).startswith(
        "reproduce: nao seed 0: first difference at round 1 fit, epoch 5 parameters: "
        f"{nao_run.traces['nao']['0'][4][2]} (reference) != 000000000000 (this run); "
        "the entry before (round 1 fit, epoch 4 parameters) matches"
    )


def test_first_difference_of_two_traces():
    a = [["r", "x", "1"], ["r", "y", "2"]]
    assert first_difference(a, a) is None
    assert (
        first_difference(a, [["r", "x", "9"], ["r", "y", "2"]])
        == "r, x: 1 (reference) != 9 (this run)"
    )
    assert first_difference(a, [["r", "x", "1"], ["s", "z", "2"]]) == (
        "entry 2: r, y (reference) != s, z (this run); the entry before (r, x) matches"
    )
    assert (
        first_difference(a, a[:1]) == "the traces agree for 1 entries, then the reference has more"
    )


def test_the_committed_reference_has_a_trace_for_every_nao_seed():
    ref = load_reference(REFERENCE_PATH)
    seeds = {str(s) for s in ReproduceSpec.from_dict(ref.spec or {}).seeds}
    assert ref.traces is not None and set(ref.traces["nao"]) == seeds
    assert all(len(t) > 50 for t in ref.traces["nao"].values())


QEMU = shutil.which("qemu-x86_64")


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() != "x86_64", reason="an x86-64 check")
def test_the_controller_gives_the_same_bits_on_an_emulated_amd_cpu(tmp_path):
    """Portable numerics on this CPU and on an AMD EPYC emulated by qemu-user (which reports
    AMD's vendor and features to MKL and torch): every op of a fit, an embedding optimization
    and a decoding gives the same bits. .ci/run installs qemu-user, so CI checks this on
    whichever kind of machine it runs."""
    assert QEMU, "qemu-x86_64 (Debian: qemu-user) is needed; .ci/run installs it"
    script = [
        str(ROOT / "benchmarks" / "numerics_replay.py"),
        "ops",
        "--step",
        "all",
        "--epochs",
        "1",
    ]
    env = {k: v for k, v in os.environ.items() if k not in numerics.ENV}
    native, emulated = tmp_path / "native.txt", tmp_path / "amd.txt"
    subprocess.run([sys.executable, *script, "--out", str(native)], env=env, check=True)
    subprocess.run(
        [QEMU, "-cpu", "EPYC-Milan", sys.executable, *script, "--out", str(emulated)],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    diff = subprocess.run(
        [sys.executable, script[0], "diff", str(native), str(emulated)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert diff.returncode == 0, diff.stdout
    assert len(native.read_text().splitlines()) > 1000


def test_pin_takes_effect_in_a_fresh_process_and_refuses_after_torch_loaded():
    code = (
        "from nao_kfp.numerics import pin, describe\n"
        "pin()\n"
        "import torch\n"
        "print(describe(), torch.backends.cpu.get_cpu_capability(), torch.get_num_threads(),"
        " torch.backends.mkldnn.enabled)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in numerics.ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["portable", "DEFAULT", "1", "False"]
    # this test process loaded torch with its native kernels: too late to pin
    if numerics.describe() != "portable":
        with pytest.raises(numerics.NumericsError, match="torch was imported before pin"):
            numerics.pin()


def test_the_committed_reference_was_made_with_portable_numerics():
    assert (load_reference(REFERENCE_PATH).machine or {})["numerics"] == "portable"
