"""Run strategies over budgets and seeds on one table; the results document and its summary.

Results JSON (schema "nao-kfp.benchmark/1"); accuracies are in percent:

    schema       "nao-kfp.benchmark/1"
    space        search space name
    table        {source, rows, digest, units, has_test}
    reported     "test" if the table has a test column, else "valid"
    strategies   [name, ...]; budgets [int, ...] ascending; seeds [int, ...]
    settings     {strategy: {config: what produced it (nao: its search, evaluator, controller)}}
    runs         [{strategy, seed, budget, arch, valid, reported}, ...]: for each strategy, seed and
                 budget, the best-by-valid architecture among the first `budget` queries (ties:
                 the earlier query) with its valid and reported accuracy
    summary      [{strategy, budget, mean, std, n, sem}, ...]: over seeds of `reported`; std is the
                 sample standard deviation (0 for one seed), sem = std / sqrt(n)
    (the layout is records.BenchmarkResults; read_results loads it strictly)
    curves       {strategy: {seed: [reported accuracy of the best-by-valid arch after query 1..max]}}
    histories    {strategy: {seed: [[index, arch, valid, test or null, source], ...]}}
    seconds      {strategy: {seed: wall seconds}}  (timing only; never compared)
    traces       {strategy: {seed: [[step, tensor, digest], ...]}}: only when asked for (the
                 reproduce check), and only for NAO, whose steps record them (nao_kfp.trace)

Strategies are anytime (see strategies/base.py), so each strategy and seed runs once with the
largest budget and every smaller budget reads the first `budget` queries of that run.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from nao_kfp import trace, validate
from nao_kfp.config import Config
from nao_kfp.errors import NaoError, shorten, shown
from nao_kfp.jsontypes import JSONObject
from nao_kfp.records import (
    BENCHMARK_SCHEMA,
    BenchmarkResults,
    BenchRun,
    BenchSummary,
    RecordError,
    TableInfo,
    from_dict,
    to_dict,
)
from nao_kfp.strategies.base import Strategy
from nao_kfp.tabular import Query, Table

SCHEMA = BENCHMARK_SCHEMA
# what documents merged into one must share
SAME: tuple[Literal["space", "budgets", "seeds", "reported"], ...] = (
    "space",
    "budgets",
    "seeds",
    "reported",
)


class ArgError(NaoError):
    """A command-line list (seeds, budgets, strategies) is malformed."""


# ---------------------------------------------------------------- argument lists


# More seeds or budgets than anyone runs: a typo such as 0-100000000 fails instead of
# allocating the range.
MAX_LIST = 10_000


def parse_int_list(text: str, flag: str, *, minimum: int = 0) -> list[int]:
    """`0-9`, `0,3,5` or a mix (`0-2,7`) -> sorted distinct integers."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(-?\d+)(?:-(-?\d+))?", part)
        if not m:
            raise ArgError(
                f"{flag} {shorten(text, 60)}: expected integers like 0-9 or 0,3,5, "
                f"got {shown(part, 60)}"
            )
        if max(len(g) for g in m.groups() if g) > 18:  # and int() would refuse 4,300 digits
            raise ArgError(f"{flag} {shorten(text, 60)}: expected numbers of at most 18 digits")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ArgError(f"{flag} {shorten(text, 60)}: range {part} ends below its start")
        if lo < minimum:
            raise ArgError(f"{flag} {shorten(text, 60)}: {lo} is below the minimum {minimum}")
        if hi - lo + 1 + len(out) > MAX_LIST:
            raise ArgError(f"{flag} {shorten(text, 60)}: more than {MAX_LIST} values")
        out.update(range(lo, hi + 1))
    return sorted(out)


def parse_names(text: str, flag: str, allowed: Sequence[str]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ArgError(f"{flag}: expected a comma-separated list of {', '.join(allowed)}")
    for n in names:
        if n not in allowed:
            raise ArgError(
                f"{flag}: unknown name {shown(n, 60)}; expected some of {', '.join(allowed)}"
            )
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------- running


def run_benchmark(
    table: Table,
    strategies: dict[str, Strategy],
    budgets: Sequence[int],
    seeds: Sequence[int],
    *,
    settings: dict[str, JSONObject] | None = None,
    log: Callable[[str], None] | None = None,
    traces: bool = False,
) -> BenchmarkResults:
    """Every strategy over every seed, once at the largest budget. `traces`: also keep each
    run's digest trace (nao_kfp.trace; only NAO records one) under doc.traces."""
    budgets = sorted(set(budgets))
    reported = "test" if table.has_test else "valid"
    table_info = TableInfo(table.source, len(table), table.digest(), table.units, table.has_test)
    seconds: dict[str, dict[str, float]] = {}
    kept: dict[str, dict[str, list[list[str]]]] = {}
    doc = BenchmarkResults(
        space=table.space.name,
        table=table_info,
        reported=reported,
        strategies=list(strategies),
        budgets=budgets,
        seeds=list(seeds),
        runs=[],
        summary=[],
        settings=settings or {},
        seconds=seconds,
    )
    for name, strategy in strategies.items():
        doc.curves[name], doc.histories[name], seconds[name] = {}, {}, {}
        for seed in seeds:
            start = time.perf_counter()
            with trace.recording() as entries:
                history = strategy.run(table, budgets[-1], seed)
            took = time.perf_counter() - start
            if traces and entries:
                kept.setdefault(name, {})[str(seed)] = entries
            seconds[name][str(seed)] = round(took, 3)
            doc.curves[name][str(seed)] = best_so_far(history, reported)
            doc.histories[name][str(seed)] = [
                [q.index, q.arch, q.valid, q.test, q.source] for q in history
            ]
            for b in budgets:
                best = best_by_valid(history[:b])
                doc.runs.append(
                    BenchRun(name, seed, b, best.arch, best.valid, _reported(best, reported))
                )
            if log:
                last = doc.runs[-1]
                log(
                    f"{name} seed {seed}: {reported} {last.reported:.2f} @{budgets[-1]} ({took:.1f}s)"
                )
    doc.summary = summarize(doc.runs)
    doc.traces = kept or None
    return doc


def best_by_valid(history: Sequence[Query]) -> Query:
    best = history[0]
    for q in history[1:]:
        if q.valid > best.valid:
            best = q
    return best


def _reported(q: Query, reported: str) -> float:
    return q.test if reported == "test" and q.test is not None else q.valid


def best_so_far(history: Sequence[Query], reported: str) -> list[float]:
    out, best = [], history[0]
    for q in history:
        if q.valid > best.valid:
            best = q
        out.append(_reported(best, reported))
    return out


def summarize(runs: Sequence[BenchRun]) -> list[BenchSummary]:
    groups: dict[tuple[str, int], list[float]] = {}
    for r in runs:
        groups.setdefault((r.strategy, r.budget), []).append(r.reported)
    out = []
    for (name, budget), values in groups.items():
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        n = len(values)
        out.append(BenchSummary(name, budget, statistics.fmean(values), std, n, std / math.sqrt(n)))
    return out


def format_summary(doc: BenchmarkResults) -> str:
    cells = {(s.strategy, s.budget): s for s in doc.summary}
    width = max(12, *(len(n) for n in doc.strategies))
    head = f"{'strategy':<{width}}" + "".join(f"  {f'@{b} queries':>20}" for b in doc.budgets)
    lines = [
        f"{doc.reported} accuracy (%) of the best-by-valid architecture, mean ± std (standard error) over "
        f"{len(doc.seeds)} seeds",
        head,
    ]
    for name in doc.strategies:
        row = f"{name:<{width}}"
        for b in doc.budgets:
            c = cells[(name, b)]
            row += f"  {c.mean:>8.2f} ± {c.std:<4.2f} ({c.sem:.2f})"
        lines.append(row)
    lines += _differences(doc, cells)
    return "\n".join(lines)


def _differences(doc: BenchmarkResults, cells: dict[tuple[str, int], BenchSummary]) -> list[str]:
    """NAO's mean minus each other strategy's, in standard errors of the difference
    (sqrt(sem_a^2 + sem_b^2), the runs being independent): what "beats it by more than two
    standard errors" is read from."""
    if "nao" not in doc.strategies or len(doc.seeds) < 2:
        return []
    out = []
    for other in doc.strategies:
        if other == "nao":
            continue
        parts = []
        for b in doc.budgets:
            a, o = cells[("nao", b)], cells[(other, b)]
            diff, se = a.mean - o.mean, math.hypot(a.sem, o.sem)
            z = f"{diff / se:+.1f} SE" if se > 0 else "SE 0"
            parts.append(f"@{b} {diff:+.2f} ({z})")
        out.append(f"nao - {other}: " + ", ".join(parts))
    return out


def settings_of(strategy: Strategy) -> JSONObject:
    """What produced a strategy's results, for the results document."""
    value = getattr(strategy, "cfg", None)
    out: JSONObject = {}
    if isinstance(value, Config):  # NAO: the sections of the config its loop reads
        d = value.to_dict()
        keys = ("search", "evaluator", "controller") if strategy.name == "nao" else ("child",)
        out["config"] = {k: d[k] for k in keys}
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        out["config"] = dataclasses.asdict(value)
    start = getattr(strategy, "start", None)
    if start is not None:  # a seeded baseline: where its first queries come from
        out["start"] = start.describe()
    return out


# ---------------------------------------------------------------- schema and files


def check_results(data: object, where: str = "results") -> BenchmarkResults:
    """The document loaded strictly (records.BenchmarkResults); else NaoError naming `where`
    (the file) and the first field that breaks the schema, then the first run, curve or budget
    that does not add up."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ArgError(f"{where}: schema: expected {SCHEMA!r}")
    try:
        doc = from_dict(BenchmarkResults, data, where)
    except RecordError as e:
        raise ArgError(str(e)) from None
    want = {(s, b, seed) for s in doc.strategies for b in doc.budgets for seed in doc.seeds}
    got = {(r.strategy, r.budget, r.seed) for r in doc.runs}
    if got != want:
        missing = sorted(want - got, key=str)
        raise ArgError(
            f"{where}: runs: missing or extra entries, e.g. {missing[:1] or sorted(got - want, key=str)[:1]}"
        )
    for name in doc.strategies:
        for seed in doc.seeds:
            curve = doc.curves.get(name, {}).get(str(seed))
            if not isinstance(curve, list) or len(curve) != max(doc.budgets):
                raise ArgError(f"{where}: curves.{name}.{seed}: expected {max(doc.budgets)} values")
    return doc


def write_results(path: str | Path, doc: BenchmarkResults) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(doc), indent=1, sort_keys=True) + "\n")


def read_results(path: str | Path) -> BenchmarkResults:
    path = Path(path)
    if not path.exists():
        raise ArgError(f"{path}: no such results file")
    return check_results(validate.json_file(path, str(path), ArgError), str(path))


def merge_results(docs: Sequence[BenchmarkResults]) -> BenchmarkResults:
    """One document from per-strategy documents of the same table, budgets and seeds."""
    if not docs:
        raise ArgError("results: nothing to merge")
    out = copy.deepcopy(docs[0])
    for d in docs[1:]:
        for key in SAME:
            if getattr(d, key) != getattr(out, key):
                raise ArgError(
                    f"results: {key}: {getattr(d, key)!r} differs from {getattr(out, key)!r}; "
                    "cannot merge"
                )
        if d.table.digest != out.table.digest:
            raise ArgError("results: table.digest: the documents come from different tables")
        for name in d.strategies:
            if name in out.strategies:
                raise ArgError(f"results: strategy {name!r} appears in two documents")
            out.strategies.append(name)
        out.runs += copy.deepcopy(d.runs)
        out.settings.update(copy.deepcopy(d.settings))
        out.curves.update(copy.deepcopy(d.curves))
        out.histories.update(copy.deepcopy(d.histories))
        for part in ("seconds", "traces"):
            theirs = getattr(d, part)
            if theirs is not None:
                if getattr(out, part) is None:
                    setattr(out, part, {})
                getattr(out, part).update(copy.deepcopy(theirs))
    out.summary = summarize(out.runs)
    return out


def plot_results(doc: BenchmarkResults, path: str | Path) -> None:
    """Mean best-so-far accuracy against queries, one line per strategy, ± std band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in doc.strategies:
        curves = list(doc.curves[name].values())
        n = len(curves[0])
        xs = list(range(1, n + 1))
        mean = [statistics.fmean(c[i] for c in curves) for i in range(n)]
        std = [
            statistics.stdev([c[i] for c in curves]) if len(curves) > 1 else 0.0 for i in range(n)
        ]
        ax.plot(xs, mean, label=name)
        ax.fill_between(
            xs,
            [m - s for m, s in zip(mean, std, strict=True)],
            [m + s for m, s in zip(mean, std, strict=True)],
            alpha=0.15,
        )
    ax.set_xlabel("queries")
    ax.set_ylabel(f"{doc.reported} accuracy of best-by-valid (%)")
    ax.set_title(f"{doc.space}: {doc.table.rows} architectures, {len(doc.seeds)} seeds")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
