"""The reproducibility check: a small benchmark on a generated table, compared with a reference.

The reference document (committed; see REFERENCE_PATH) is a merged results document (see
runner.py) plus the `spec` that produced it, so a check reruns exactly that spec. Every run value
(best arch, valid and reported accuracy per strategy, budget and seed) and every query history
must match exactly: the table is a deterministic function of its seed and every strategy is a
deterministic function of its seed, so any difference is a regression.

Random search and evolution from random cells (`random-unseeded`, `evolution-unseeded`: the
seeded ones start from NAO's proxy-ranked cells, whose float work NAO's own run checks) are pure
Python and reproduce on any machine. NAO trains networks in
float arithmetic whose rounding depends on the CPU (torch's kernels for AVX2 and AVX-512, and
MKL's paths for Intel and AMD, differ in the last bits, and a search amplifies that), so the
pipeline's strategy steps pin portable numerics (nao_kfp.numerics) and record the machine they
ran on (`machine`); a NAO difference on another machine names both. A run in-process without
pinning (the tests) has native numerics, and only random search and evolution must match it.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nao_kfp import validate
from nao_kfp.config import load_config
from nao_kfp.errors import NaoError
from nao_kfp.jsontypes import JSONObject
from nao_kfp.numerics import describe
from nao_kfp.records import BenchmarkResults, BenchRun
from nao_kfp.spaces import get_space
from nao_kfp.spaces.nb201 import NB201
from nao_kfp.strategies import EvolutionConfig, make_strategy
from nao_kfp.strategies.runner import (
    check_results,
    merge_results,
    read_results,
    run_benchmark,
    settings_of,
)
from nao_kfp.tabular import TableSpec, generate_table
from nao_kfp.trace import first_difference

REFERENCE_PATH = Path(__file__).resolve().parent.parent / "configs" / "reference" / "reproduce.json"


class ReproduceError(NaoError):
    """A rerun differs from the reference (names strategy, budget, seed and both values)."""


@dataclass(frozen=True)
class ReproduceSpec:
    """Small on purpose: the whole check runs in well under a minute on a laptop CPU."""

    space: str = NB201.name
    table: TableSpec = field(default_factory=lambda: TableSpec(seed=0, rows=300))
    # the baselines from random cells: their runs are pure Python (the seeded ones start from
    # NAO's proxy-ranked cells, float work that NAO's own run already checks)
    strategies: tuple[str, ...] = ("nao", "random-unseeded", "evolution-unseeded")
    budgets: tuple[int, ...] = (20, 40)
    seeds: tuple[int, ...] = (0, 1)
    config: str = "nb201"
    overrides: tuple[str, ...] = (
        "search.initial_archs=10",
        "search.top_k=5",
        "search.new_archs=10",
        "controller.epochs=10",
        "controller.patience=0",
    )
    evolution: EvolutionConfig = field(
        default_factory=lambda: EvolutionConfig(population=10, tournament=3)
    )

    def to_dict(self) -> JSONObject:
        doc: JSONObject = json.loads(json.dumps(dataclasses.asdict(self)))
        return doc

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReproduceSpec:
        try:
            return cls(
                space=d["space"],
                table=TableSpec(**d["table"]),
                strategies=tuple(d["strategies"]),
                budgets=tuple(d["budgets"]),
                seeds=tuple(d["seeds"]),
                config=d["config"],
                overrides=tuple(d["overrides"]),
                evolution=EvolutionConfig(**d["evolution"]),
            )
        except (KeyError, TypeError) as e:
            raise ReproduceError(f"reference: spec: malformed ({e})") from None


def run_strategy(spec: ReproduceSpec, name: str) -> BenchmarkResults:
    """One strategy of the spec over all its budgets and seeds: a results document."""
    space = get_space(spec.space)
    table = generate_table(space, spec.table)
    cfg = load_config(spec.config, list(spec.overrides))
    strategy = make_strategy(name, cfg, evolution=spec.evolution)
    return run_benchmark(
        table,
        {name: strategy},
        spec.budgets,
        spec.seeds,
        settings={name: settings_of(strategy)},
        traces=True,
    )


def run_spec(spec: ReproduceSpec) -> BenchmarkResults:
    """Every strategy in-process, merged, with the spec attached (a reference document)."""
    return with_spec(merge_results([run_strategy(spec, n) for n in spec.strategies]), spec)


# the strategies whose runs depend on float kernels (and so on the machine), not only on seeds
MACHINE_DEPENDENT = ("nao",)
# what a rerun's run must match in the reference's
COMPARED: tuple[Literal["reported", "valid", "arch"], ...] = ("reported", "valid", "arch")


def machine() -> dict[str, str]:
    """What NAO's float results depend on: CPU vendor, the instruction set torch dispatches to,
    torch's version and whether this process pinned portable numerics (nao_kfp.numerics)."""

    import torch

    vendor = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("vendor_id"):
                vendor = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": f"{platform.machine()} {vendor}",
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "numerics": describe(),
    }


def same_machine(reference: BenchmarkResults, actual: BenchmarkResults) -> bool:
    return reference.machine == actual.machine


def with_spec(doc: BenchmarkResults, spec: ReproduceSpec) -> BenchmarkResults:
    return dataclasses.replace(
        doc,
        spec=spec.to_dict(),
        # the machine the strategies ran on (the strategy steps record it), else this process's
        machine=doc.machine or machine(),
        seconds=None,  # wall time would make the reference differ on every run
    )


def load_reference(path: str | Path = REFERENCE_PATH) -> BenchmarkResults:
    """The reference document, checked strictly (a spec alone is refused: see read_reference)."""
    _, reference = read_reference(path)
    if reference is None:
        raise ReproduceError(
            f"{path}: holds a spec without results; run `nao reproduce --update-reference`"
        )
    return reference


def read_reference(path: str | Path) -> tuple[ReproduceSpec, BenchmarkResults | None]:
    """The reference's spec and its results, checked strictly; None for a spec alone (the
    results are still to be written: --update-reference)."""
    path = Path(path)
    if not path.exists():
        raise ReproduceError(f"{path}: no reference yet; run `nao reproduce --update-reference`")
    if path.is_dir():
        raise ReproduceError(f"{path}: is a folder; expected the reference JSON file")

    doc = validate.json_file(path, str(path), ReproduceError)
    if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
        raise ReproduceError(f"{path}: expected a JSON object with a spec (a reference document)")
    spec = ReproduceSpec.from_dict(doc["spec"])
    if set(doc) == {"spec"}:
        return spec, None
    try:
        return spec, check_results(doc, str(path))
    except NaoError as e:
        raise ReproduceError(str(e)) from None


def compare_results(reference: BenchmarkResults, actual: BenchmarkResults) -> list[str]:
    """Every difference as one line naming strategy, budget, seed and both values; for a NAO
    run whose trace differs, first the step and tensor where it parts from the reference."""
    diffs: list[str] = []
    if reference.table.digest != actual.table.digest:
        diffs.append(
            f"table digest: {reference.table.digest} (reference) != "
            f"{actual.table.digest} (this run): the generated table changed"
        )
    # where a NAO run first parts from the reference comes first: the rest follows from it
    diffs += _trace_differences(reference, actual)
    got: dict[tuple[str, int, int], BenchRun] = {
        (r.strategy, r.budget, r.seed): r for r in actual.runs
    }
    for ref in reference.runs:
        key = (ref.strategy, ref.budget, ref.seed)
        where = f"{key[0]} budget {key[1]} seed {key[2]}"
        run = got.pop(key, None)
        if run is None:
            diffs.append(f"{where}: missing from this run (reference {ref.reported})")
            continue
        for k in COMPARED:
            if getattr(run, k) != getattr(ref, k):
                diffs.append(
                    f"{where}: {k} {getattr(ref, k)} (reference) != {getattr(run, k)} (this run)"
                )
    for key in sorted(got, key=str):
        diffs.append(f"{key[0]} budget {key[1]} seed {key[2]}: not in the reference")
    for name, seeds in reference.histories.items():
        for seed, hist in seeds.items():
            other = actual.histories.get(name, {}).get(seed)
            if other is not None and other != hist:
                i = next(
                    (i for i, (a, b) in enumerate(zip(hist, other, strict=False)) if a != b),
                    min(len(hist), len(other)),
                )
                a = hist[i] if i < len(hist) else None
                b = other[i] if i < len(other) else None
                diffs.append(f"{name} seed {seed}: query {i + 1} {a} (reference) != {b} (this run)")
    return diffs


def _trace_differences(reference: BenchmarkResults, actual: BenchmarkResults) -> list[str]:
    """For each run whose digest trace differs: the first step and tensor that differ (a
    reference without traces, or a strategy without one, is not compared)."""
    out = []
    ref_t, act_t = reference.traces or {}, actual.traces or {}
    for name, seeds in ref_t.items():
        for seed, entries in seeds.items():
            other = act_t.get(name, {}).get(seed)
            where = first_difference(entries, other) if other is not None else None
            if where:
                out.append(f"{name} seed {seed}: first difference at {where}")
    return out


def check_reproduction(reference: BenchmarkResults, actual: BenchmarkResults) -> None:
    diffs = compare_results(reference, actual)
    if diffs:
        more = f" (and {len(diffs) - 1} more differences)" if len(diffs) > 1 else ""
        hint = ""
        if not same_machine(reference, actual) and all(
            d.startswith(MACHINE_DEPENDENT) for d in diffs
        ):
            hint = (
                f"; the reference was made on {_describe(reference)}, this run on "
                f"{_describe(actual)}. Portable numerics promise the same bits on both, so this "
                "is a bug, not a reason to rewrite the reference: find the op with "
                "benchmarks/numerics_replay.py on both machines"
            )
        raise ReproduceError(f"reproduce: {diffs[0]}{more}{hint}")


def _describe(doc: BenchmarkResults) -> str:
    m = doc.machine or {}
    if not m:
        return "an unrecorded machine"
    numerics = f", {m['numerics']} numerics" if m.get("numerics") else ""
    return f"{m.get('cpu')} ({m.get('cpu_capability')}, torch {m.get('torch')}{numerics})"


def merge_files(spec: ReproduceSpec, result_paths: Sequence[str | Path]) -> BenchmarkResults:
    """Per-strategy documents (in the spec's strategy order) merged, with the spec attached."""
    try:
        docs = [read_results(p) for p in result_paths]
    except NaoError as e:
        raise ReproduceError(str(e)) from None
    order = {n: i for i, n in enumerate(spec.strategies)}
    docs.sort(key=lambda d: order.get(d.strategies[0], len(order)))
    return with_spec(merge_results(docs), spec)


def compare_files(reference_text: str, result_paths: Sequence[str | Path]) -> BenchmarkResults:
    """The compare step: merge per-strategy documents, compare with the reference, return the
    merged document (raises ReproduceError on any difference)."""
    try:
        reference = check_results(json.loads(reference_text), "reference")
    except NaoError as e:
        raise ReproduceError(str(e)) from None
    spec = ReproduceSpec.from_dict(reference.spec or {})
    merged = merge_files(spec, result_paths)
    check_reproduction(reference, merged)
    return merged
