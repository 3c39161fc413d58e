"""Running the search pipeline on this machine: kfp.local, SubprocessRunner, this Python.

`nao search` calls run_local; it runs the very pipeline function that `nao compile` compiles.
"""

import builtins
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from kfp import local
from kfp.local import logging_utils
from nao_kfp.pipelines.search import build_pipeline

from nao_kfp.config import Config, config_to_json
from nao_kfp.errors import NaoError
from nao_kfp.final import MODEL_DIR
from nao_kfp.progress import Plan, ProgressFilter, Watch
from nao_kfp.records import read_json

FINAL_DIR = "final"


def keep_final(model_artifact: Path, dest: Path) -> None:
    """The final task's exported model folder, copied into DIR/final/model; its final.json
    names the files relative to the folder, so it holds there as it is (result.json's copy
    points at the artifact under DIR/kfp)."""

    shutil.copytree(model_artifact, dest / MODEL_DIR, dirs_exist_ok=True)


SCRATCH = ".tmp"


def publish(artifact: Path, dest: Path) -> None:
    """An output of the run, at its place in DIR: a hard link to the artifact (the file the
    task wrote, not a second copy of it), else a copy; replaced atomically on a re-run."""

    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(artifact, tmp)
    except OSError:  # another file system
        shutil.copyfile(artifact, tmp)
    tmp.replace(dest)


@contextlib.contextmanager
def scratch_tmpdir(path: Path) -> Any:
    """TMPDIR for the run and its tasks: the temp folders a task leaves (KFP's component
    command never removes its `mktemp -d`, a killed task cannot remove its work dirs, kfp.local
    keeps a killed run's workspace) go here, and this removes them when the run ends; a run
    killed before that has them removed by the next run into the same DIR."""

    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"], tempfile.tempdir = str(path), str(path)
    try:
        yield path
    finally:
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        tempfile.tempdir = saved_dir
        shutil.rmtree(path, ignore_errors=True)


class SearchError(NaoError):
    """A task of the local search failed (its log is in DIR/kfp.log)."""


def local_config(cfg: Config, out_dir: Path) -> Config:
    """A local run keeps its result cache and child checkpoints under DIR/store (unless the
    config names an S3 store or another directory), so re-running into DIR resumes. It does not
    retry a failed task: kfp.local would honour cluster.retries with cluster.retry_backoff, and
    a bad input here fails the same way every time (an unreachable store: 4 tries, minutes of
    backoff, before the one line)."""
    cluster = dataclasses.replace(cfg.cluster, retries=0)
    if not (cfg.cluster.s3_endpoint or cfg.cluster.store_dir):
        cluster = dataclasses.replace(cluster, store_dir=str(out_dir / "store"))
    return cfg.replace(cluster=cluster)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# the last line of a Python traceback: `pkg.module.SomeError: message`
_CAUSE = re.compile(
    r"^\s*(?:(?:[a-z_]\w*\.)+([A-Z]\w*)|([A-Z]\w*(?:Error|Exception|Failed))): (.+)$", re.M
)


def failure_cause(log_text: str) -> str | None:
    """The error a failed task ended with, from its log (the last traceback's last line)."""
    found = _CAUSE.findall(_ANSI.sub("", log_text))
    if not found:
        return None
    qualified, plain, message = found[-1]
    return f"{qualified or plain}: {message.strip()}"


class FlatPrint:
    """builtins.print as it was when the run started; `restore` puts it back when something
    (kfp.local) left it swapped, and counts how often that happened."""

    def __init__(self) -> None:
        self.original = builtins.print
        self.swaps = 0

    def restore(self) -> None:
        if builtins.print is not self.original:
            builtins.print = self.original
            self.swaps += 1


class KfpLog:
    """kfp.log as a person reads it: every line of the run's output without terminal colours and
    without the executor's dump of each task's inputs (a few kB of JSON per task, the whole config
    among them: it is DIR/config.json, and the artifacts are under DIR/kfp). Takes whole lines
    (ProgressFilter), from the thread of the task that printed them; checks `flat` on each."""

    def __init__(self, file: TextIO, flat: FlatPrint):
        self.file, self.flat = file, flat
        self._dump: dict[int, int] = {}  # thread -> indentation of the dump it is inside

    def write(self, line: str) -> int:
        self.flat.restore()
        line = _ANSI.sub("", line)
        body = line.lstrip(" ")
        indent, me = len(line) - len(body), threading.get_ident()
        if me in self._dump:
            if indent > self._dump[me] or body.rstrip() in ("{", ""):
                return len(line)
            del self._dump[me]
            if body.rstrip() == "}":
                return len(line)
        if body.rstrip().endswith(_INPUT_DUMP):
            self._dump[me] = indent
            line = line.rstrip("\n") + " (not kept: see config.json and kfp/)\n"
        return self.file.write(line)

    def flush(self) -> None:
        self.file.flush()


# kfp.local (2.17, kfp/local/logging_utils.py) wraps every task in local_logger_context(), which
# swaps the root logger's handlers, and the task's subprocess in indented_print(), which swaps
# builtins.print for a wrapper that prints four spaces first; both put back what they saved. The
# shards of a ParallelFor run in threads, so one can save another's wrapper and restore it for
# good: print nests deeper every round, each layer calling the one below twice, until a line
# costs seconds (and lines are lost when one thread clears the handlers another logs through).
# For the run both become no-ops: one handler for the whole run, print never swapped. Should a
# kfp release rename them, nao search says so on stderr and print is still put back on every line
# kfp.log receives (KfpLog), which bounds the nesting to a layer per running task; should one
# swap print some other way, it is put back after every task and the run says how often.
# tests/test_local_rounds.py checks these hooks against the installed kfp.
KFP_HOOKS = ("indented_print", "local_logger_context")
_INPUT_DUMP = "Got executor_input:"


@contextlib.contextmanager
def flat_kfp_output(stream: TextIO, flat: FlatPrint) -> Iterator[list[str]]:
    """kfp.local's per-task swaps of print and of the root logger disabled for the run, its log
    lines sent to `stream` with full timestamps; print is put back after every task. Yields the
    hooks it did not find (a kfp release that renamed them), for the caller to say so."""

    @contextlib.contextmanager
    def task_output(*_args: Any, **_kwargs: Any) -> Iterator[None]:
        try:
            yield
        finally:
            flat.restore()

    @contextlib.contextmanager
    def same_logger() -> Iterator[None]:
        yield

    hooks = {"indented_print": task_output, "local_logger_context": same_logger}
    saved = {
        k: getattr(logging_utils, k) for k in hooks if callable(getattr(logging_utils, k, None))
    }
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    if "local_logger_context" in saved:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.handlers = [handler]
        root.setLevel(logging.INFO)
    for name in saved:
        setattr(logging_utils, name, hooks[name])
    try:
        yield [k for k in hooks if k not in saved]
    finally:
        for name, hook in saved.items():
            setattr(logging_utils, name, hook)
        root.handlers = handlers
        root.setLevel(level)
        flat.restore()


def run_local(
    cfg: Config,
    out_dir: Path,
    *,
    show: TextIO | None = None,
    arguments: dict[str, Any] | None = None,
    started: float | None = None,
) -> dict[str, Any]:
    """Run the pipeline with kfp.local (SubprocessRunner, this Python) into out_dir.

    Task logs go to out_dir/kfp.log; progress lines go to `show` (stderr: a live bar when it
    is a terminal, progress.Watch). Puts the run's
    outputs in out_dir: result.json, pool.jsonl, report.md|html with the report's images (the
    report task's files: written once, by the pipeline's last task) and final/ (the final
    model); returns the result. `arguments` are the run's pipeline parameters (default: the
    compiled config), as a cluster run gets them. started: when the command began
    (time.monotonic), for the elapsed time on the progress lines."""

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = local_config(cfg, out_dir)
    (out_dir / "config.json").write_text(config_to_json(cfg) + "\n")
    log_path = out_dir / "kfp.log"
    start = log_path.stat().st_size if log_path.exists() else 0
    show = show or sys.stderr
    flat = FlatPrint()
    failed: str | None = None
    with (
        contextlib.closing(Watch(Plan.of(cfg), show, t0=started)) as watch,
        scratch_tmpdir(out_dir / SCRATCH) as scratch,
        log_path.open("a") as log,
        contextlib.closing(ProgressFilter(KfpLog(log, flat), show, watch)) as output,
        contextlib.redirect_stdout(output),
        flat_kfp_output(output, flat) as missing,
        warnings.catch_warnings(),
    ):
        if missing:
            watch.note(
                f"nao search: kfp.local has no logging_utils.{', '.join(missing)} (a newer kfp?): "
                "task output may be indented"
            )
        # kfp.local warns, per task, that the image and the Kubernetes settings are ignored here
        warnings.filterwarnings("ignore", module=r"kfp\.local\.")
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(out_dir / "kfp"),
            workspace_root=str(scratch / "workspace"),
            raise_on_error=True,
        )
        try:
            task = build_pipeline(cfg)(**(arguments or {}))
        except RuntimeError as e:
            failed = _ANSI.sub("", str(e)).splitlines()[0]
    if flat.swaps:  # a kfp.local that swaps print some other way than the hooks above
        show.write(f"nao search: kfp.local swapped print {flat.swaps} times; put back each time\n")
    if failed is not None:
        with log_path.open("rb") as f:
            f.seek(start)
            cause = failure_cause(f.read().decode("utf-8", "replace"))
        raise SearchError(f"search: {cause or failed} (task logs: {log_path})")
    publish(Path(task.outputs["result"].path), out_dir / "result.json")
    publish(Path(task.outputs["pool"].path), out_dir / "pool.jsonl")
    for file in sorted(Path(task.outputs["files"].path).iterdir()):
        publish(file, out_dir / file.name)  # report.md, report.html and their images
    if cfg.final.enabled:
        keep_final(Path(task.outputs["model"].path), out_dir / FINAL_DIR)
    result: dict[str, Any] = read_json(out_dir / "result.json")
    return result
