"""Progress events: one marked JSON line on stdout per event.

Steps run in subprocesses (kfp.local) or pods, so progress cannot be a callback. A step prints
`NAO-PROGRESS {...}`; on a cluster it is a readable log line, and `nao search` picks these lines
out of the task logs (which it sends to a file) and shows them as short status lines.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO

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
    return "-" if x is None else f"{100 * float(x):.2f}%"


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "-"
    m, sec = divmod(int(round(float(seconds))), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"


def format_event(ev: dict[str, Any]) -> str | None:
    """A one-line human form of an event (None: not worth showing)."""
    kind, r = ev.get("event"), ev.get("round")
    if kind == "child":
        state = ev.get("status")
        acc = _pct(ev.get("accuracy")) if state == "ok" else state
        how = " (cached)" if ev.get("cached") else " (resumed)" if ev.get("resumed") else ""
        return (
            f"round {r}: shard {ev.get('shard')} child {ev.get('done')}/{ev.get('total')} "
            f"{acc}{how}"
        )
    if kind == "round":
        if ev.get("best_perplexity") is not None:  # language models: lower is better
            return (
                f"round {r}: {ev.get('evaluated')} archs evaluated, best dev ppl "
                f"{ev['best_perplexity']:.2f}, best so far {ev.get('best_so_far_perplexity'):.2f}"
            )
        if ev.get("metric") == "score":  # zero-cost proxies: a score, not an accuracy
            return (
                f"round {r}: {ev.get('evaluated')} archs evaluated, best score "
                f"{_num(ev.get('best'))}, best so far {_num(ev.get('best_so_far'))}"
            )
        return (
            f"round {r}: {ev.get('evaluated')} archs evaluated, best {_pct(ev.get('best'))}, "
            f"best so far {_pct(ev.get('best_so_far'))}"
        )
    if kind == "proxy_seed":
        return (
            f"round {r}: {ev.get('archs')} initial archs are the best of {ev.get('pool')} random "
            f"ones by SynFlow + params (untrained)"
        )
    if kind == "fit":
        return f"round {r}: controller fitted on {ev.get('n_train')} archs in {ev.get('seconds', 0):.0f}s"
    if kind == "decode":
        return f"round {r}: {ev.get('count')} new architectures decoded for round {ev.get('next')}"
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
        how = (  # language models: perplexity, lower is better
            f"ppl {ev['perplexity']:.2f}" if ev.get("perplexity") is not None
            else f"train accuracy {_pct(ev.get('train_accuracy'))}"
        )  # fmt: skip
        return (
            f"round {r}: supernet epoch {ev.get('epoch')}/{ev.get('epochs')} loss "
            f"{ev.get('loss', 0):.4f} {how}, "
            f"{ev.get('seconds', 0):.1f}s/epoch, left: round {_duration(ev.get('round_left'))}, "
            f"search ~{_duration(ev.get('search_left'))}"
        )
    if kind == "supernet_score":
        return (
            f"round {r}: scoring with the supernet {ev.get('done')}/{ev.get('total')} "
            f"({ev.get('seconds', 0):.0f}s)"
        )
    if kind == "rerank":
        ppl = ev.get("perplexity")
        acc = f"ppl {ppl:.2f}" if ppl is not None else _pct(ev.get("accuracy"))
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

    def __init__(self, log: TextIO, show: TextIO | None = None):
        self.log = log
        self.show = show or sys.stderr
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
