"""Progress events: one marked JSON line on stdout per event, and what `nao search` shows.

Steps run in subprocesses (kfp.local) or pods, so progress cannot be a callback. A step prints
`NAO-PROGRESS {...}`; on a cluster it is a readable log line, and `nao search` picks these lines
out of the task logs (which it sends to a file) and shows them as short status lines.

`nao search` knows the plan (rounds, architectures a round, shards), so its Tracker turns the
events into lines a person can watch: the elapsed time first, the round with its total
(`round 2/3`), children counted across the round's shards (`child 7/12`), accuracies in percent,
and the time left for the round and the whole search, estimated from the children and rounds
done so far. On a terminal a live bar (rich) shows the same under the lines; elsewhere (a log
file, Kubeflow's task logs) only plain lines are written.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from nao_kfp.kinds import kind_of
from nao_kfp.metric import Metric, training_words
from nao_kfp.units import duration, pct

if TYPE_CHECKING:
    from nao_kfp.config import Config

MARK = "NAO-PROGRESS "
_quiet = 0


def emit(event: str, **fields: object) -> None:
    if not _quiet:
        print(MARK + json.dumps({"event": event, **fields}, sort_keys=True), flush=True)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress lines (the benchmark runs hundreds of searches in-process)."""
    global _quiet
    _quiet += 1
    try:
        yield
    finally:
        _quiet -= 1


def parse(line: str) -> dict[str, Any] | None:
    """The event of a log line, or None when the line is not a progress line."""
    at = line.find(MARK)
    if at < 0:
        return None
    try:
        data = json.loads(line[at + len(MARK) :])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _num(x: Any) -> str:
    return "-" if x is None else f"{float(x):.4f}"


def _pct(x: Any) -> str:
    return pct(x)


def _duration(seconds: Any) -> str:
    return duration(seconds)


def format_event(ev: dict[str, Any], rounds: int | None = None) -> str | None:
    """A one-line human form of an event (None: not worth showing); with `rounds`, the round
    reads `round r/rounds`."""
    kind, r = ev.get("event"), ev.get("round")
    if rounds and r is not None:
        r = f"{r}/{rounds}"
    metric = Metric(str(ev.get("metric") or "accuracy"), ev.get("vocab"))  # how scores read
    if kind == "child":
        state = ev.get("status")
        acc = metric.tagged(ev.get("accuracy")) if state == "ok" else state
        how = " (cached)" if ev.get("cached") else " (resumed)" if ev.get("resumed") else ""
        return (
            f"round {r}: shard {ev.get('shard')} child {ev.get('done')}/{ev.get('total')} "
            f"{acc}{how}"
        )
    if kind == "round":
        if not metric.kind.percent:  # not an accuracy: its own words (metric.py)
            return (
                f"round {r}: {ev.get('evaluated')} archs evaluated, best {metric.short} "
                f"{metric.text(ev.get('best'))}, best so far {metric.text(ev.get('best_so_far'))}"
            )
        mean = f", mean {_pct(ev['mean'])}" if ev.get("mean") is not None else ""
        return (
            f"round {r}: {ev.get('evaluated')} archs evaluated, best {_pct(ev.get('best'))}"
            f"{mean}; best so far {_pct(ev.get('best_so_far'))}"
        )
    if kind == "proxy_seed":
        return (
            f"round {r}: {ev.get('archs')} initial archs are the best of {ev.get('pool')} random "
            f"ones by SynFlow + params (untrained)"
        )
    if kind == "fit":
        return f"round {r}: controller fitted on {ev.get('n_train')} archs in {ev.get('seconds', 0):.0f}s"
    if kind == "decode":
        return f"round {r}: NAO proposed {ev.get('count')} new architectures for round {ev.get('next')}"
    if kind == "sample":
        return f"round {r}: {ev.get('archs')} initial architectures ({ev.get('how')})"
    if kind == "data":
        return f"data: {ev.get('dataset')} ready"
    if kind == "store_wait":
        return (
            f"store: {ev.get('action')} {ev.get('key')} failed (attempt {ev.get('attempt')}, "
            f"{ev.get('waited')}s so far); retrying in {ev.get('retry_in')}s: {ev.get('error')}"
        )
    if kind == "child_retry":
        return (
            f"round {r}: child {ev.get('id')} failed ({ev.get('error')}); retrying from its "
            f"last checkpoint ({ev.get('left')} retries left)"
        )
    if kind == "supernet":
        return (
            f"round {r}: supernet epoch {ev.get('epoch')}/{ev.get('epochs')} loss "
            f"{ev.get('loss', 0):.4f} {training_words(ev)}, {ev.get('seconds', 0):.1f}s/epoch"
        )
    if kind == "supernet_score":
        return (
            f"round {r}: scoring with the supernet {ev.get('done')}/{ev.get('total')} "
            f"({ev.get('seconds', 0):.0f}s)"
        )
    if kind == "rerank":
        acc = metric.tagged(ev.get("accuracy"))
        return f"{ev.get('what')}: re-ranked {ev.get('done')}/{ev.get('total')} (dev {acc})"
    if kind == "final":
        acc = ev.get("test_accuracy")
        return f"final model trained: test accuracy {_pct(acc)}" if acc is not None else None
    if kind == "stop":
        return f"round {r}: no improvement, later rounds skipped (search.early_stop)"
    return None


class ProgressFilter:
    """A stdout stand-in: every line goes to `log`, in one write; progress lines are also shown
    on `show`.

    Linear in what it is given: a partial line waits as pieces, joined once when its newline
    comes. kfp.local prints the output of parallel tasks from several threads, so each thread's
    partial line is kept apart and a line is never mixed with another thread's."""

    def __init__(self, log: TextIO, show: TextIO | None = None, watch: Watch | None = None):
        self.log = log
        self.show = show or sys.stderr
        self.watch = watch  # nao search: the tracker's lines (and bar) instead of plain events
        self._pending: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        *lines, rest = text.split("\n")
        me = threading.get_ident()
        with self._lock:
            if lines:
                lines[0] = "".join(self._pending.pop(me, ())) + lines[0]
                for line in lines:
                    self._line(line)
            if rest:
                self._pending.setdefault(me, []).append(rest)
        return len(text)

    def _line(self, line: str) -> None:
        self.log.write(line + "\n")
        ev = parse(line)
        if ev and self.watch is not None:
            self.watch.event(ev)
            return
        msg = format_event(ev) if ev else None
        if msg:  # not print(): kfp.local swaps builtins.print for an indenting one
            self.show.write(msg + "\n")
            self.show.flush()

    def flush(self) -> None:
        self.log.flush()

    def close(self) -> None:
        """Write what is left of unfinished lines (a task killed mid-line)."""
        with self._lock:
            for pieces in self._pending.values():
                self._line("".join(pieces))
            self._pending.clear()
        self.flush()


# ---------------------------------------------------------------- what nao search shows


@dataclass(frozen=True)
class Plan:
    """What the search will do, from its config: rounds, architectures in round 1 and (at
    most) in each later round, shards running side by side, and whether children report one by
    one (the train evaluator)."""

    rounds: int
    first: int
    per_round: int
    shards: int = 1
    children: bool = True
    final: bool = False

    @classmethod
    def of(cls, cfg: Config) -> Plan:
        s, kind = cfg.search, kind_of(cfg)
        return cls(
            rounds=s.rounds, first=s.initial_archs, per_round=s.new_archs,
            shards=1 if kind.shares_weights else max(1, s.shards),  # NAO-WS: one task a round
            children=kind.trains_children, final=cfg.final.enabled,
        )  # fmt: skip

    def words(self) -> str:
        later = f", then up to {self.per_round} a round proposed by NAO" if self.rounds > 1 else ""
        side = (
            f"; {self.shards} shards train side by side"
            if self.children and self.shards > 1
            else ""
        )
        final = "; then the final training" if self.final else ""
        return f"plan: {self.rounds} rounds: {self.first} initial architectures{later}{side}{final}"


@dataclass
class _Round:
    """One round as the events tell it: when it began, each shard's count of children done
    and of its children, and when each shard last reported."""

    index: int
    total: int
    start: float
    done: dict[int, int] = field(default_factory=dict)
    totals: dict[int, int] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    first_child: float | None = None
    last_child: float | None = None

    @property
    def finished(self) -> int:
        return sum(self.done.values())


class Tracker:
    """Turns events into lines: `[elapsed] message  (left: round ~T, search ~T)`.

    The time left is estimated from what the events showed so far: seconds per child (the gap
    between two children of one shard, shards running side by side), a task's start-up (before
    a round's first child), and the controller's share of a round (from a round's last child to
    its decode); until a round has shown them, the start-up of round 1 stands in. Cached
    children (a re-run) are not timed. Events that carry their own estimate (NAO-WS's supernet
    epochs) are shown with it."""

    def __init__(
        self, plan: Plan, clock: Callable[[], float] = time.monotonic, t0: float | None = None
    ):
        self.plan, self.clock = plan, clock
        self.t0 = clock() if t0 is None else t0
        self.round = _Round(1, plan.first, self.t0)
        self.first_start = self.t0
        self.totals: dict[int, int] = {1: plan.first}  # children per round (decode says)
        self.done_rounds: dict[int, int] = {}  # round -> children evaluated
        self.child_s: list[float] = []
        self.startup_s: list[float] = []
        self.ctrl_s: list[float] = []
        self.round_end: float | None = None  # when the current round's children finished
        self.stopped = False
        self.left: tuple[float | None, float | None] = (None, None)

    # the counts the live bar shows
    @property
    def children_done(self) -> int:
        return sum(self.done_rounds.values()) + (
            0 if self.round.index in self.done_rounds else self.round.finished
        )

    @property
    def children_planned(self) -> int:
        return sum(self.totals.get(r, self.plan.per_round) for r in range(1, self.plan.rounds + 1))

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def handle(self, ev: dict[str, Any]) -> str | None:
        """The line for an event (None: nothing to show), after updating the estimates."""
        now, kind = self.clock(), ev.get("event")
        msg = format_event(ev, self.plan.rounds)
        if kind == "child":
            msg = self._child(ev, now)
        elif kind == "round":
            self._round_done(ev, now)
        elif kind == "decode":
            self._decoded(ev, now)
        elif kind == "stop":
            self.stopped = True
        elif kind in ("sample", "data") and self.round.index == 1 and not self.round.done:
            self.round.start = self.first_start = now  # round 1 starts after the sample
        if msg is None:
            return None
        if ev.get("search_left") is not None:
            self.left = (ev.get("round_left"), ev.get("search_left"))
        else:
            self.left = self.estimate(now)
        return f"[{duration(now - self.t0):>6}] {msg}{self.left_words()}"

    def note(self, text: str) -> str:
        return f"[{duration(self.elapsed()):>6}] {text}"

    def left_words(self) -> str:
        round_left, search_left = self.left
        if search_left is None:
            return "  (left: estimating)" if self.plan.children else ""
        parts = [] if round_left is None else [f"round ~{duration(round_left)}"]
        parts.append(f"search ~{duration(search_left)}")
        final = " + the final training" if self.plan.final else ""
        return f"  (left: {', '.join(parts)}{final})"

    # ------------------------------------------------------------ the events

    def _child(self, ev: dict[str, Any], now: float) -> str:
        r = int(ev.get("round") or self.round.index)
        if r != self.round.index:
            self._begin(r, now)
        rd, shard = self.round, int(ev.get("shard") or 0)
        if not ev.get("cached"):
            since = rd.last.get(shard)
            if since is not None:
                self.child_s.append(now - since)
            elif rd.first_child is None:
                rd.first_child = now
        rd.last[shard] = now
        rd.last_child = now
        rd.done[shard] = int(ev.get("done") or 0)
        rd.totals[shard] = int(ev.get("total") or 0)
        state = ev.get("status")
        acc = _pct(ev.get("accuracy")) if state == "ok" else state
        how = " (cached)" if ev.get("cached") else " (resumed)" if ev.get("resumed") else ""
        return f"round {r}/{self.plan.rounds}: child {rd.finished}/{rd.total} {acc}{how}"

    def _begin(self, r: int, now: float) -> None:
        self.round = _Round(r, self.totals.get(r, self.plan.per_round), self.round_end or now)

    def _round_done(self, ev: dict[str, Any], now: float) -> None:
        r = int(ev.get("round") or self.round.index)
        if r != self.round.index:
            self._begin(r, now)
        rd = self.round
        self.done_rounds[r] = int(ev.get("evaluated") or rd.finished)
        if rd.first_child is not None and self.child_s:
            self.startup_s.append(self._startup(rd))
        self.round_end = now

    def _decoded(self, ev: dict[str, Any], now: float) -> None:
        nxt = int(ev.get("next") or self.round.index + 1)
        self.totals[nxt] = int(ev.get("count") or 0)
        if self.round.last_child is not None:
            self.ctrl_s.append(now - self.round.last_child)
        self.round = _Round(nxt, self.totals[nxt], now)
        self.round_end = now

    # ------------------------------------------------------------ the estimates

    def _startup(self, rd: _Round) -> float:
        """A round's task start-up before any round has finished: from its start to its first
        child, less a child's time."""
        if rd.first_child is None or not self.child_s:
            return 0.0
        return max(0.0, rd.first_child - rd.start - self._per_child())

    def _per_child(self) -> float:
        return sum(self.child_s) / len(self.child_s) if self.child_s else 0.0

    def estimate(self, now: float) -> tuple[float | None, float | None]:
        """(the current round's time left, the search's), None where nothing is known yet."""
        plan, rd = self.plan, self.round
        if not plan.children:  # rounds only: the mean round so far, the controller's included
            if not self.done_rounds or self.round_end is None:
                return None, None
            per_round = (self.round_end - self.first_start) / len(self.done_rounds)
            return None, max(0.0, (plan.rounds - len(self.done_rounds)) * per_round)
        if rd.first_child is None and not self.child_s:
            return None, None
        child = self._per_child() or (now - rd.start)  # only first children: start-up included
        startup = _mean(self.startup_s, self._startup(rd))
        ctrl = _mean(self.ctrl_s, 3 * startup)  # fit, optimize, decode: three task start-ups
        per_shard = -(-rd.total // plan.shards)
        if rd.index in self.done_rounds:
            children_left = 0.0
        else:
            behind = [
                rd.totals.get(s, per_shard) - rd.done.get(s, 0) for s in range(plan.shards)
            ]  # fmt: skip
            children_left = max(behind, default=0) * child
            if rd.first_child is None:  # the round's tasks are starting
                children_left += startup
        last = rd.index >= plan.rounds
        round_left = children_left + (0.0 if last else ctrl)
        later = 0.0
        for r in range(rd.index + 1, plan.rounds + 1):
            n = 0 if self.stopped else self.totals.get(r, plan.per_round)
            later += startup + -(-n // plan.shards) * child + (ctrl if r < plan.rounds else 0.0)
        tail = 2 * startup  # select and report
        return round_left, round_left + later + tail


def _mean(xs: list[float], default: float) -> float:
    return sum(xs) / len(xs) if xs else default


class PlainDisplay:
    """Lines on a stream that is not a terminal (a log file, a pod's log)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def refresh(self, tracker: Tracker) -> None:
        pass

    def close(self) -> None:
        pass


class LiveDisplay:
    """On a terminal: the lines scroll above two live bars (rich), the search's and the
    round's, with the elapsed time ticking and the time left."""

    def __init__(self, stream: TextIO, tracker: Tracker):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        plan = tracker.plan
        self.unit = "children" if plan.children else "rounds"
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}  {task.fields[left]}"),
            console=Console(file=stream, force_terminal=True, highlight=False),
            redirect_stdout=False, redirect_stderr=False, refresh_per_second=4,
        )  # fmt: skip
        total = tracker.children_planned if plan.children else plan.rounds
        self.search = self.progress.add_task("search", total=total, unit=self.unit, left="")
        self.round = (
            self.progress.add_task(f"round 1/{plan.rounds}", total=plan.first, unit="", left="")
            if plan.children
            else None
        )
        self.progress.start()

    def line(self, text: str) -> None:
        self.progress.console.print(text, markup=False)

    def refresh(self, tracker: Tracker) -> None:
        round_left, search_left = tracker.left
        left = f"left ~{duration(search_left)}" if search_left is not None else ""
        if tracker.plan.children:
            self.progress.update(self.search, completed=tracker.children_done,
                                 total=tracker.children_planned, left=left)  # fmt: skip
            rd = tracker.round
            if self.round is not None:
                self.progress.update(
                    self.round, description=f"round {rd.index}/{tracker.plan.rounds}",
                    completed=rd.finished, total=max(rd.total, rd.finished),
                    left=f"left ~{duration(round_left)}" if round_left is not None else "",
                )  # fmt: skip
        else:
            self.progress.update(self.search, completed=len(tracker.done_rounds), left=left)

    def close(self) -> None:
        self.progress.stop()


class Watch:
    """What `nao search` shows while the pipeline runs: the Tracker's lines on a PlainDisplay,
    or on a LiveDisplay when `stream` is a terminal."""

    def __init__(
        self, plan: Plan, stream: TextIO, *, live: bool | None = None, t0: float | None = None
    ):
        self.tracker = Tracker(plan, t0=t0)  # t0: when the command started (time.monotonic)
        tty = stream.isatty() if hasattr(stream, "isatty") else False
        use_live = tty and os.environ.get("TERM") != "dumb" if live is None else live
        self.display: PlainDisplay | LiveDisplay = (
            LiveDisplay(stream, self.tracker) if use_live else PlainDisplay(stream)
        )
        self.display.line(self.tracker.note(plan.words()))

    def event(self, ev: dict[str, Any]) -> None:
        line = self.tracker.handle(ev)
        if line is not None:
            self.display.line(line)
            self.display.refresh(self.tracker)

    def note(self, text: str) -> None:
        self.display.line(self.tracker.note(text))

    def close(self) -> None:
        self.display.close()
