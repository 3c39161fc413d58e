"""The embedded runner costs the same per round at round 8 as at round 2: kfp.local's per-task
swaps of print and of the root logger are neutralised for the run (pipelines/local.py), the
progress filter is linear in what it is given, kfp.log grows by a bounded amount per round, and
the steps that do not train or run the controller never import torch."""

from __future__ import annotations

import builtins
import inspect
import io
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from nao_kfp.pipelines.local import KFP_HOOKS, FlatPrint, KfpLog, run_local
from search_tiny import tiny_config

from nao_kfp.progress import ProgressFilter

ROUNDS = 8  # enough for kfp.local's per-task swaps to nest 40 deep if they were not neutralised
# A round of the search below is at most 6 tasks (fit, optimize, decode, 2 shards, merge). Per
# task kfp.log keeps kfp.local's lines (executing, finished, the outputs: about 1 kB with this
# run's paths), the executor's 4 lines and the step's own progress lines (a child line per
# architecture): about 2.5 kB a task, 10 kB a round as measured. The bound leaves room for longer
# temp paths; a log that nests print grows by kilobytes of spaces per task and round.
LOG_BYTES_PER_ROUND = 24_000
ONE_TASK_LEVEL = 4  # kfp.local indents a task's output by 4 spaces


class Shown(io.StringIO):
    """The progress stream: records, for each line shown, whether print was the original."""

    def __init__(self, original: object) -> None:
        super().__init__()
        self.original = original
        self.lines: list[tuple[str, bool]] = []

    def write(self, text: str) -> int:
        self.lines.append((text, builtins.print is self.original))
        return super().write(text)


def _round_bytes(log: str) -> list[int]:
    """kfp.log's bytes per round: a round ends when its merge task finishes."""
    sizes, last = [], 0
    for m in re.finditer(r"Task 'merge[^']*' finished with status \w+\n", log):
        sizes.append(len(log[last : m.end()].encode()))
        last = m.end()
    return sizes


@pytest.mark.slow
def test_a_long_local_search_keeps_print_flat_and_its_log_bounded(tmp_path: Path) -> None:
    cfg = tiny_config(
        None,
        "evaluator.kind=synthetic",
        f"search.rounds={ROUNDS}",
        "search.shards=2",  # a ParallelFor: its shards run in threads
        "controller.epochs=2",
    )
    original = builtins.print
    shown = Shown(original)
    result = run_local(cfg, tmp_path / "run", show=shown)
    assert [r["round"] for r in result["rounds"]] == list(range(1, ROUNDS + 1))
    assert builtins.print is original
    # every round's line was shown while its merge task ran: print was the original then
    round_lines = [
        (t, flat) for t, flat in shown.lines if re.match(r"\[ *\w+\] round \d+/\d+: \d+ archs", t)
    ]
    assert len(round_lines) == ROUNDS
    assert all(flat for _, flat in round_lines), [t for t, flat in round_lines if not flat]
    assert (
        "swapped print" not in shown.getvalue() and "has no logging_utils" not in shown.getvalue()
    )

    log = (tmp_path / "run" / "kfp.log").read_text()
    task_lines = [
        ln for ln in log.splitlines() if re.match(r"\s*(NAO-PROGRESS|\[KFP Executor)", ln)
    ]
    assert len(task_lines) > 10 * ROUNDS
    deepest = max(len(ln) - len(ln.lstrip(" ")) for ln in task_lines)
    assert deepest <= ONE_TASK_LEVEL, deepest
    assert "\x1b[" not in log and '"parameterValues"' not in log  # no colours, no input dumps
    # one logger for the run: no task's lines lost to another thread's handler swap
    started = re.findall(r"Executing task '([^']+)'", log)
    finished = re.findall(r"Task '([^']+)' finished with status SUCCESS", log)
    assert sorted(started) == sorted(finished) and len(started) >= 6 * (ROUNDS - 1)
    sizes = _round_bytes(log)
    assert len(sizes) == ROUNDS and max(sizes) <= LOG_BYTES_PER_ROUND, sizes


def test_kfp_local_still_has_the_hooks_neutralised() -> None:
    """A kfp release that renames the hooks or stops calling them through the module would
    bring nested print back: this fails first (nao search also says so on stderr)."""
    from kfp.local import logging_utils, pipeline_orchestrator, task_dispatcher

    for name in KFP_HOOKS:
        assert callable(getattr(logging_utils, name, None)), name
    assert "logging_utils.indented_print(" in inspect.getsource(task_dispatcher)
    for module in (task_dispatcher, pipeline_orchestrator):
        assert "logging_utils.local_logger_context(" in inspect.getsource(module)


def _feed(n: int) -> float:
    log = io.StringIO()
    pf = ProgressFilter(log, io.StringIO())
    start = time.perf_counter()
    for _ in range(n):
        pf.write("x")
    pf.write("\n")
    took = time.perf_counter() - start
    assert log.getvalue() == "x" * n + "\n"
    return took


def test_progress_filter_is_linear_in_its_input() -> None:
    # a line written a character at a time: 4x the characters, about 4x the time (re-joining or
    # re-splitting the partial line on every write would make it 16x)
    small = min(_feed(20_000) for _ in range(3))
    big = min(_feed(80_000) for _ in range(3))
    assert big < 8 * small, (small, big)


def test_progress_filter_keeps_each_threads_lines_whole() -> None:
    log, shown = io.StringIO(), io.StringIO()
    pf = ProgressFilter(log, shown)
    event = 'NAO-PROGRESS {"event": "round", "round": %d, "evaluated": 1}'

    def task(i: int) -> None:
        for j in range(200):
            for piece in (f"task {i} ", f"line {j} ", "end\n"):
                pf.write(piece)
        pf.write(event % i + "\n")

    threads = [threading.Thread(target=task, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pf.write("unfinished")
    pf.close()
    lines = log.getvalue().splitlines()
    assert sorted(lines[:-1]) == sorted(
        [f"task {i} line {j} end" for i in range(4) for j in range(200)]
        + [event % i for i in range(4)]
    )
    assert lines[-1] == "unfinished"
    assert sorted(shown.getvalue().splitlines()) == [
        f"round {i}: 1 archs evaluated, best -; best so far -" for i in range(4)
    ]


def test_kfp_log_drops_each_tasks_input_dump_and_keeps_the_rest() -> None:
    """Two tasks' lines interleaved, as ParallelFor shards print them: each thread's dump of its
    executor input is left out, every other line kept (without colours)."""
    file = io.StringIO()
    log = KfpLog(file, FlatPrint())
    header = "[KFP Executor 2026-01-01 00:00:00,000 INFO]: Got executor_input:\n"
    dump = ["{\n", '    "inputs": {\n', '        "parameterValues": {}\n', "    }\n", "}\n"]
    mine = [header, *dump, "NAO-PROGRESS {}\n", "\x1b[92mSUCCESS\x1b[0m\n"]
    barrier = threading.Barrier(2)

    def task() -> None:
        barrier.wait()
        for line in mine:
            log.write(line)
            time.sleep(0.001)  # let the other task print between two lines

    threads = [threading.Thread(target=task) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = file.getvalue().splitlines()
    assert sorted(kept) == sorted(
        2
        * [header.rstrip() + " (not kept: see config.json and kfp/)", "NAO-PROGRESS {}", "SUCCESS"]
    )


# the steps of a round that neither train nor run the controller, on the synthetic evaluator, and
# select-best and conclude (result.json). (The report, once a run, counts the children's parameters for its Pareto plot by
# building them on torch's meta device.)
_NO_TORCH = """
import json, sys
from pathlib import Path
import nao_kfp.components.merge, nao_kfp.components.report, nao_kfp.components.sample
import nao_kfp.components.select, nao_kfp.components.train, nao_kfp.components.data
from nao_kfp import outcome, steps
from nao_kfp.pool import read_pool, write_pool
from search_tiny import tiny_config

cfg = tiny_config(None, "evaluator.kind=synthetic", "search.shards=2")
d = Path(sys.argv[1])
steps.prepare_data(cfg, d / "data")
steps.sample(cfg, d / "pool", d / "history")
shards = [d / f"shard{i}" for i in range(2)]
for i, out in enumerate(shards):
    steps.train_children(cfg, d / "pool", i, 2, d / "data", out, round_index=1)
steps.merge(cfg, 1, d / "pool", shards, d / "history", d / "pool1", d / "history1")
# round 2: proposed architectures with predictions, so merge scores the predictor
pool = read_pool(d / "pool1")
for e in pool[:3]:
    e.round, e.predicted = 2, 0.5 + 0.1 * len(e.id) / 16
write_pool(d / "pool2", pool)
steps.record_round(cfg, 2, pool, d / "history1", d / "history2")
outcome.select_best(cfg, d / "pool2", d / "selection")
outcome.conclude(cfg, d / "selection", d / "history2", d / "pool2", d / "result")
print(json.dumps(sorted(m for m in ("torch", "torchvision") if m in sys.modules)))
"""


def test_steps_that_neither_train_nor_fit_do_not_import_torch(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    history = json.loads((tmp_path / "history2").read_text())
    assert history["rounds"][-1]["pairwise_accuracy"] is not None  # the predictor was scored
    assert json.loads(done.stdout.splitlines()[-1]) == []
