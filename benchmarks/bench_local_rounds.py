"""Wall time of every round of `nao search` through kfp.local, and where one round's time goes.

    .venv/bin/python benchmarks/bench_local_rounds.py [--rounds 50] [--table nb201.csv]
        [--detail-round 3] [--timeout 1800] [--out DIR]

Runs two searches as a user would (`nao search` in a subprocess, a fresh DIR each):
  synthetic  --config demo --set evaluator.kind=synthetic --set search.rounds=R
             --set controller.epochs=50 (no real work hides the runner's overhead)
  nb201      --config nb201 --set evaluator.kind=table --set evaluator.table=TABLE (its 33
             rounds; only with --table)
and prints, from what the run recorded in DIR/kfp.log (kfp.local's timestamped "Executing task"
and "finished" lines), the wall time and kfp.log bytes of every round, the per-task breakdown of
one round, and round R's time over round 3's. Round 1 runs from its first task to its merge;
round r >= 2 from round r - 1's merge to its own (the controller's fit, optimize and decode, then
the children and their merge). A search that runs past --timeout is stopped; the rounds it
finished are still reported. The targets: round R within 25 % of round 3, the nb201 search in
at most 10 minutes on 2 cores. Each search's CPU seconds (its own and its task processes')
say what it would take on an idle machine when the machine is shared. --rounds 0: no synthetic
search.

The controller's fit trains on every architecture evaluated so far, so its own work grows with
the round (demo: 18 architectures in round 3, 306 in round 50). Beside each round's time this
prints that fit's seconds (the fit step's progress line in kfp.log) and the rest: what the round
costs besides training the controller, the runner's share, which should stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# kfp.local's log lines: `[YYYY-MM-DD ]HH:MM:SS.mmm - INFO - Executing task 'name'` and
# `... Task 'name' finished with status SUCCESS`
_EVENT = re.compile(
    r"^\s*(?:\d{4}-\d\d-\d\d[ T])?(\d\d):(\d\d):(\d\d)[.,](\d{3}) .*?"
    r"(?:Executing task '([^']+)'|Task '([^']+)' finished with status)"
)
_FIT = re.compile(r'NAO-PROGRESS (\{.*"event": "fit".*\})')
DAY = 86400.0


@dataclass
class Task:
    name: str
    start: float
    end: float | None = None


@dataclass
class Round:
    index: int
    start: float
    end: float
    log_bytes: int
    tasks: list[Task] = field(default_factory=list)
    fit_s: float = 0.0  # the controller's training, as the fit step measured it

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def rest_s(self) -> float:
        return self.seconds - self.fit_s


def parse_log(path: Path) -> list[Round]:
    """The rounds of a run from its kfp.log: each ends when its merge task finishes."""
    tasks: list[Task] = []
    open_tasks: dict[str, list[Task]] = {}
    rounds: list[Round] = []
    last, offset, day, prev_end, fit_s = None, 0, 0.0, 0, 0.0
    with path.open("rb") as f:
        for raw in f:
            offset += len(raw)
            line = _ANSI.sub("", raw.decode("utf-8", "replace"))
            fit = _FIT.search(line)
            if fit:
                fit_s += float(json.loads(fit[1]).get("seconds") or 0.0)
            m = _EVENT.match(line)
            if not m:
                continue
            t = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) + int(m[4]) / 1000 + day
            if last is not None and t < last - DAY / 2:  # past midnight
                day += DAY
                t += DAY
            last = t
            if m[5]:
                task = Task(m[5], t)
                tasks.append(task)
                open_tasks.setdefault(m[5], []).append(task)
                continue
            started = open_tasks.get(m[6])
            if not started:
                continue
            task = started.pop(0)
            task.end = t
            if task.name.startswith("merge"):
                begin = rounds[-1].end if rounds else tasks[0].start
                mine = [x for x in tasks if x.start >= begin and x.end is not None]
                rounds.append(Round(len(rounds) + 1, begin, t, offset - prev_end, mine, fit_s))
                prev_end, fit_s = offset, 0.0
    return rounds


def run_search(name: str, args: list[str], out: Path, timeout: float) -> dict[str, object]:
    """`nao search ARGS --out OUT` in a subprocess; stopped (with its task processes) after
    `timeout` seconds."""
    cmd = [sys.executable, "-m", "nao_kfp.cli", "search", *args, "--out", str(out)]
    print(f"\n== {name}: {' '.join(cmd[3:])}", flush=True)
    start, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    with (out.parent / f"{out.name}.stdout").open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc: int | str = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = f"stopped after {timeout:.0f}s"
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the search and every task process it waited for: what the run costs on an idle machine
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    rounds = parse_log(out / "kfp.log") if (out / "kfp.log").exists() else []
    return {
        "name": name, "rc": rc, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "rounds": rounds, "out": str(out),
    }  # fmt: skip


def report(run: dict[str, object], detail: int) -> dict[str, object]:
    rounds: list[Round] = run["rounds"]  # type: ignore[assignment]
    print(
        f"exit: {run['rc']}, wall {run['wall_s']} s, CPU {run.get('cpu_s')} s, {len(rounds)} rounds"
    )
    print("round  seconds  fit's own  rest  kfp.log bytes")
    for r in rounds:
        print(f"{r.index:5d}  {r.seconds:7.2f}  {r.fit_s:9.2f}  {r.rest_s:5.2f}  {r.log_bytes:13d}")
    summary: dict[str, object] = {
        "search": run["name"],
        "rounds": len(rounds),
        "wall_s": run["wall_s"],
        "cpu_s": run.get("cpu_s"),
        "exit": run["rc"],
    }
    if len(rounds) >= 3:
        r3, rn = rounds[2], rounds[-1]
        summary.update(
            round3_s=round(r3.seconds, 2),
            last_round=rn.index,
            last_round_s=round(rn.seconds, 2),
            last_over_round3=round(rn.seconds / r3.seconds, 3),
            rest_last_over_round3=round(rn.rest_s / r3.rest_s, 3),
            max_log_bytes_per_round=max(r.log_bytes for r in rounds),
        )
    if len(rounds) >= detail:
        r = rounds[detail - 1]
        print(f"round {detail}, per task (seconds from 'Executing' to 'finished'):")
        for t in r.tasks:
            assert t.end is not None
            print(f"  {t.name:24s} {t.end - t.start:7.2f}")
        busy = sum(t.end - t.start for t in r.tasks if t.end is not None)
        print(f"  {'(between tasks)':24s} {r.seconds - busy:7.2f}  (negative: shards overlapped)")
    print(json.dumps(summary))
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--rounds", type=int, default=50, help="rounds of the synthetic search (0: none)"
    )
    p.add_argument("--table", type=Path, default=None, help="nb201 table CSV (else no nb201 run)")
    p.add_argument("--detail-round", type=int, default=3)
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per search")
    p.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temp dir)")
    args = p.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="nao-bench-rounds-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs; runs under {out}")
    synthetic = [
        "--config", "demo", "--set", "evaluator.kind=synthetic",
        "--set", f"search.rounds={args.rounds}", "--set", "controller.epochs=50",
    ]  # fmt: skip
    runs = [("synthetic", synthetic)] if args.rounds > 0 else []
    if args.table:
        table = str(args.table.resolve())
        nb201 = [
            "--config",
            "nb201",
            "--set",
            "evaluator.kind=table",
            "--set",
            f"evaluator.table={table}",
        ]
        runs.append(("nb201", nb201))
    for name, cmd in runs:
        report(run_search(name, cmd, out / name, args.timeout), args.detail_round)


if __name__ == "__main__":
    main()
