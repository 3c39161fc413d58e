"""Katib's trials as a NAO search: the pipeline's loop (loop.run_search) replayed on them.

The service keeps nothing between calls. Each GetSuggestions runs the search of loop.py from
its first step with an evaluator that answers from the trials Katib sent (TrialEvaluator):
every round whose architectures all have finished trials is evaluated, fitted and decoded as in
`nao benchmark --strategy nao`; the first round with an architecture that has no finished trial
stops the run (RoundOpen). That round's architectures without a trial are the suggestions, in
the order NAO proposed them. A restarted service replays the same steps on the same trials, so
it proposes the same architectures.

Replaying every round on every call would cost a controller fit per round per call, so the
steps run in a work directory that keeps their outputs (a step finds its finished output and
returns it, as a retried pipeline task does), one per experiment and config. It is only a
cache: before each run every result it holds is compared with the trials, and a directory that
disagrees with them is removed and rebuilt.
"""

from __future__ import annotations

import random
import re
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kubeflow.katib import katib_api_pb2 as api

from nao_kfp import progress
from nao_kfp.errors import ArchError, NaoError
from nao_kfp.evaluators import Evaluator, make_evaluator
from nao_kfp.evaluators.base import Accept, Log, failed, ok
from nao_kfp.katib.experiment import NaoExperiment
from nao_kfp.kinds import EvaluatorKind
from nao_kfp.loop import round_pool, run_search
from nao_kfp.pool import PoolEntry, read_pool
from nao_kfp.results import RerankEntry
from nao_kfp.spaces import Arch, get_space

State = Literal["running", "ok", "failed"]
Status = api.TrialStatus
# Katib's trial conditions (its latest one is sent) and what they mean for the search
DONE = (Status.SUCCEEDED, Status.EARLYSTOPPED)  # their observation is the score
BROKEN = (Status.FAILED, Status.KILLED, Status.METRICSUNAVAILABLE)


@dataclass(frozen=True)
class TrialResult:
    """What Katib's trials found for one architecture."""

    trial: str
    state: State
    value: float | None = None
    error: str | None = None


def trial_results(
    exp: NaoExperiment, trials: Iterable[Any], log: Log = print
) -> dict[str, TrialResult]:
    """Each architecture's result, by canonical id, from the api.v1beta1 Trial messages. An
    architecture with several trials (Katib asked for more than its round had left) takes a
    finished one: ok before failed, then the first by trial name."""
    space = get_space(exp.cfg.search.space)
    found: dict[str, TrialResult] = {}
    for t in sorted(trials, key=lambda t: t.name):
        values = {a.name: a.value for a in t.spec.parameter_assignments.assignments}
        text = values.get(exp.parameter)
        try:
            if text is None:
                raise ArchError(f"no parameter {exp.parameter!r}")
            cid = space.canonical_id(space.parse(text))
        except ArchError as e:
            log(f"trial {t.name}: not one of this search's architectures ({e}); ignored")
            continue
        r = _result(t, exp.metric)
        if cid not in found or _RANK[r.state] < _RANK[found[cid].state]:
            found[cid] = r
    return found


_RANK = {"ok": 0, "failed": 1, "running": 2}


def _result(t: Any, metric: str) -> TrialResult:
    condition = t.status.condition
    if condition in BROKEN:
        name = Status.TrialConditionType.Name(condition).lower()
        return TrialResult(t.name, "failed", error=f"trial {t.name}: {name}")
    if condition not in DONE:
        return TrialResult(t.name, "running")
    values = {m.name: m.value for m in t.status.observation.metrics}
    try:
        return TrialResult(t.name, "ok", value=float(values[metric]))
    except (KeyError, ValueError):
        got = values.get(metric, "nothing")
        return TrialResult(t.name, "failed", error=f"trial {t.name}: {metric} is {got}")


class RoundOpen(Exception):
    """The loop reached a round with an architecture that has no finished trial."""

    def __init__(self, round_index: int):
        super().__init__(f"round {round_index} is open")
        self.round_index = round_index


class TrialEvaluator(Evaluator):
    """The config's evaluator for everything but scoring (what it can sample, its stand-ins,
    its budget, its winner); an architecture's score is its trial's objective value."""

    # not a kind a config names: the suggestion service wraps the config's evaluator
    kind = EvaluatorKind("katib", "a Katib trial's objective", "each architecture's Katib trial")

    def __init__(self, inner: Evaluator, results: Mapping[str, TrialResult]):
        super().__init__(inner.cfg)
        self.inner, self.results = inner, results

    def sample(
        self, count: int, rng: random.Random, exclude: set[str], accept: Accept | None = None
    ) -> list[Arch]:
        return self.inner.sample(count, rng, exclude, accept)

    def budget(self) -> Accept | None:
        return self.inner.budget()

    def substitute(self, arch: Arch, exclude: set[str], rng: random.Random) -> Arch | None:
        return self.inner.substitute(arch, exclude, rng)

    def select(
        self, ranked: Sequence[PoolEntry], *, data_dir: Path | None = None, log: Log | None = None
    ) -> tuple[PoolEntry, list[RerankEntry]]:
        return self.inner.select(ranked, data_dir=data_dir, log=log)

    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        done = []
        for e in entries:
            r = self.results.get(e.id)
            if r is None or r.state == "running":
                raise RoundOpen(round_index)
            if r.state == "ok" and r.value is not None:
                done.append(ok(e, r.value, trial=r.trial))
            else:
                done.append(failed(e, r.error or "no result", trial=r.trial))
        return done


class NotReady(NaoError):
    """Nothing to propose now: the round waits for running trials, or the search is over."""

    def __init__(self, message: str, *, over: bool = False):
        super().__init__(message)
        self.over = over


@dataclass(frozen=True)
class Proposals:
    """The open round and what Katib gets from it."""

    round_index: int
    entries: list[PoolEntry]  # the round's architectures, in the order NAO proposed them
    picks: list[PoolEntry]  # the suggestions: `count` of them, repeats when the round has fewer


def propose(
    exp: NaoExperiment, results: Mapping[str, TrialResult], count: int, work_root: Path
) -> Proposals:
    """`count` architectures for new trials: those of the open round without a trial, in
    order. Katib takes exactly `count`; when fewer are left the rest repeat them (a round's
    architectures must all finish before the next is known). NotReady when none is left."""
    r, entries = open_round(exp, results, work_root)
    if r is None:
        raise NotReady(
            f"the search is over: its {exp.cfg.search.rounds} rounds have proposed the "
            f"{exp.cfg.search.max_evaluations} architectures of spec.maxTrialCount",
            over=True,
        )
    todo = [e for e in entries if e.id not in results]
    if not todo:
        running = sum(1 for e in entries if results[e.id].state == "running")
        raise NotReady(
            f"round {r}: its {len(entries)} architectures have trials; round {r + 1} is "
            f"proposed when the {running} running ones finish"
        )
    return Proposals(r, entries, [todo[i % len(todo)] for i in range(count)])


_locks: dict[Path, threading.Lock] = {}
_locks_lock = threading.Lock()


def open_round(
    exp: NaoExperiment, results: Mapping[str, TrialResult], work_root: Path
) -> tuple[int | None, list[PoolEntry]]:
    """Replay the search on the results: the first round not finished by the trials and its
    architectures, or (None, []) when every round is."""

    name = re.sub(r"[^a-z0-9-]", "-", exp.name.lower())[:63] or "experiment"
    work = Path(work_root) / f"{name}-{exp.cfg.digest()}"
    with _locks_lock:
        lock = _locks.setdefault(work, threading.Lock())
    with lock:
        if _disagrees(work, results):
            shutil.rmtree(work)
        ev = TrialEvaluator(make_evaluator(exp.cfg), results)
        try:
            with progress.quiet():
                run_search(exp.cfg, work, evaluator=ev)
        except RoundOpen as o:
            pool = read_pool(round_pool(work, o.round_index))
            return o.round_index, [e for e in pool if e.status == "pending"]
    return None, []


def _disagrees(work: Path, results: Mapping[str, TrialResult]) -> bool:
    """Whether an architecture the work directory holds as evaluated has another result in
    the trials (or none): then its files come from other trials."""
    for path in work.glob("*.jsonl") if work.is_dir() else ():
        for e in read_pool(path):
            if e.status == "pending":
                continue
            r = results.get(e.id)
            if r is None or r.state != e.status or (e.status == "ok" and r.value != e.accuracy):
                return True
    return False
