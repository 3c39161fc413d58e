"""What `nao search` shows while it runs: lines with the elapsed time, the round with its total,
children counted across shards, accuracies in percent and the time left; a live bar on a
terminal (a pseudo-terminal here), plain lines elsewhere."""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from search_tiny import tiny_config

from nao_kfp.progress import LiveDisplay, PlainDisplay, Plan, Tracker, Watch

PLAN = Plan(rounds=3, first=4, per_round=2, shards=2)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def child(r: int, shard: int, done: int, total: int, acc: float, **kw: Any) -> dict[str, Any]:
    return {"event": "child", "round": r, "shard": shard, "done": done, "total": total,
            "status": "ok", "accuracy": acc, **kw}  # fmt: skip


def feed(tracker: Tracker, clock: Clock, script: list[tuple[float, dict[str, Any]]]) -> list[str]:
    out = []
    for t, ev in script:
        clock.now = t
        line = tracker.handle(ev)
        if line is not None:
            out.append(line)
    return out


def test_lines_count_children_across_shards_and_estimate_the_time_left() -> None:
    clock = Clock()
    tracker = Tracker(PLAN, clock)
    lines = feed(tracker, clock, [
        (2, {"event": "sample", "round": 1, "archs": 4, "how": "4 drawn at random"}),
        (12, child(1, 0, 1, 2, 0.8)),   # a first child: its 10 s include the task's start-up
        (13, child(1, 1, 1, 2, 0.7)),
        (20, child(1, 0, 2, 2, 0.9)),   # 8 s a child; the start-up was 12 - 2 - 8 = 2 s
    ])  # fmt: skip
    # before any child: nothing to estimate from
    assert lines[0] == (
        "[    2s] round 1/3: 4 initial architectures (4 drawn at random)  (left: estimating)"
    )
    # one child: 10 s a child; shard 1 has both of its children to go: 20 s; rounds 2 and 3
    # one child each a shard: 10 s each
    assert lines[1] == "[   12s] round 1/3: child 1/4 80.00%  (left: round ~20s, search ~40s)"
    assert lines[2].startswith("[   13s] round 1/3: child 2/4 70.00%")
    # 8 s a child, 2 s start-up, 3 start-ups for the controller's tasks: the round has one
    # child (8 s) and the controller (6 s) to go; rounds 2 and 3: 2 + 8 + 6 and 2 + 8; select
    # and report 2 + 2
    assert lines[3] == "[   20s] round 1/3: child 3/4 90.00%  (left: round ~14s, search ~44s)"
    lines = feed(tracker, clock, [
        (21, child(1, 1, 2, 2, 0.6)),
        (22, {"event": "round", "round": 1, "evaluated": 4, "best": 0.9, "mean": 0.75,
              "best_so_far": 0.9}),
        (30, {"event": "fit", "round": 1, "n_train": 4, "seconds": 6.0}),
        (35, {"event": "decode", "round": 1, "next": 2, "count": 2}),
        (47, child(2, 0, 1, 1, 0.95)),
        (48, child(2, 1, 1, 1, 0.85, cached=True)),
    ])  # fmt: skip
    assert lines[1].startswith(
        "[   22s] round 1/3: 4 archs evaluated, best 90.00%, mean 75.00%; best so far 90.00%"
    )
    assert lines[3].startswith("[   35s] round 1/3: NAO proposed 2 new architectures for round 2")
    # round 2's children counted across its two shards, a cached one said so
    assert lines[4].startswith("[   47s] round 2/3: child 1/2 95.00%  (left: round ~")
    assert lines[5].startswith("[   48s] round 2/3: child 2/2 85.00% (cached)  (left: round ~")
    # the controller's share measured: 35 - 21 = 14 s; round 3: 2 + 8; tail 2 + 2
    assert lines[5].endswith("(left: round ~14s, search ~28s)")
    assert (tracker.children_done, tracker.children_planned) == (6, 8)


def test_rounds_without_children_are_timed_by_the_rounds_done() -> None:
    clock = Clock()
    tracker = Tracker(Plan(rounds=4, first=10, per_round=5, children=False), clock)
    lines = feed(tracker, clock, [
        (5, {"event": "round", "round": 1, "evaluated": 10, "best": 0.5, "best_so_far": 0.5}),
        (10, {"event": "decode", "round": 1, "next": 2, "count": 5}),
        (15, {"event": "round", "round": 2, "evaluated": 5, "best": 0.6, "best_so_far": 0.6}),
    ])  # fmt: skip
    assert lines[0].startswith("[    5s] round 1/4: 10 archs evaluated") and "left" in lines[0]
    assert lines[2].endswith("(left: search ~15s)")  # 7.5 s a round, two to go


def test_a_supernet_epoch_is_shown_with_its_own_estimate() -> None:
    clock = Clock()
    tracker = Tracker(Plan(rounds=2, first=8, per_round=4, children=False), clock)
    (line,) = feed(tracker, clock, [(70, {
        "event": "supernet", "round": 1, "epoch": 1, "epochs": 2, "loss": 1.5,
        "train_accuracy": 0.4, "seconds": 60.0, "round_left": 0.0, "search_left": 60.0,
    })])  # fmt: skip
    assert line == (
        "[ 1m10s] round 1/2: supernet epoch 1/2 loss 1.5000 train accuracy 40.00%, "
        "60.0s/epoch  (left: round ~0s, search ~1m00s)"
    )


def test_off_a_terminal_the_lines_are_plain_and_start_with_the_plan() -> None:
    shown = io.StringIO()
    watch = Watch(PLAN, shown)
    assert isinstance(watch.display, PlainDisplay)
    watch.event(child(1, 0, 1, 2, 0.8))
    watch.event({"event": "nothing to show"})
    watch.close()
    lines = shown.getvalue().splitlines()
    assert lines[0] == (
        "[    0s] plan: 3 rounds: 4 initial architectures, then up to 2 a round proposed by "
        "NAO; 2 shards train side by side"
    )
    assert re.fullmatch(r"\[ +\d+s\] round 1/3: child 1/4 80\.00%  \(left: .*\)", lines[1])
    assert len(lines) == 2 and "\x1b" not in shown.getvalue()


def read_all(fd: int, until: float, *, to_the_end: bool = False) -> bytes:
    """What the terminal receives until `until`: up to the first pause after some output, or
    (to_the_end) until the writer closes it."""
    out = b""
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            if out and not to_the_end:
                break
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        out += chunk
    return out


def test_on_a_terminal_a_live_bar_shows_the_round_and_the_search(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w", encoding="utf-8")
    try:
        watch = Watch(PLAN, stream)
        assert isinstance(watch.display, LiveDisplay)
        watch.event(child(1, 0, 1, 2, 0.8))
        watch.event(child(1, 1, 1, 2, 0.7))
        time.sleep(0.6)  # the bar refreshes 4 times a second
        watch.close()
        stream.flush()
        text = read_all(master, time.monotonic() + 10).decode("utf-8", "replace")
    finally:
        stream.close()
        os.close(master)
    assert "\x1b[" in text  # the terminal's cursor moves: a live display
    assert "━" in text  # rich's bar
    assert re.search(r"round 1/3 +━*", text) and "2/4" in text  # the round's bar: children
    assert "search" in text and "2/8" in text  # the search's: all planned children
    assert "round 1/3: child 2/4 70.00%" in text  # the lines scroll above the bars


@pytest.mark.slow
def test_nao_search_speaks_within_seconds_and_draws_a_bar_on_a_terminal(tmp_path: Path) -> None:
    """The real command on a pseudo-terminal: the first line within 5 s, then the bar; with
    stderr in a file instead, plain lines only."""
    cfg = tiny_config(None, "evaluator.kind=synthetic", "search.rounds=2")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    argv = [sys.executable, "-m", "nao_kfp.cli", "search", "--config", str(tmp_path / "tiny.yaml")]
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen([*argv, "--out", str(tmp_path / "tty")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave, env=env)  # fmt: skip
    os.close(slave)
    first = read_all(master, start + 30)
    took = time.monotonic() - start
    rest = read_all(master, start + 600, to_the_end=True)  # a writer nobody reads would block
    assert proc.wait(timeout=600) == 0
    os.close(master)
    assert first.startswith(b"nao search: tiny preset") and took < 5.0, (took, first[:200])
    text = (first + rest).decode("utf-8", "replace")
    assert "\x1b[" in text and "━" in text and "round 2/2: 2 archs evaluated" in text
    with (tmp_path / "err.txt").open("w") as err:
        done = subprocess.run([*argv, "--out", str(tmp_path / "file")], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0
    plain = (tmp_path / "err.txt").read_text()
    assert "\x1b" not in plain and "━" not in plain
    lines = plain.splitlines()
    assert lines[1].startswith("[") and "plan: 2 rounds" in lines[1]
    assert all(re.match(r"\[ *\w+\] ", line) for line in lines[1:]), lines
