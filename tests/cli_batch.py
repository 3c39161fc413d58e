"""Run many `nao` invocations as real processes for the price of one interpreter start.

A driver process (`sys.executable -c DRIVER`) imports the CLI and the heavy libraries the
commands import on first use (torch, torchvision, kfp, pydantic, kserve: most of a failing
command's second) once, then forks one child per invocation. Whatever those imports print would
be a line every user sees, so the driver fails if they print anything. Each child gets its own argv, stdin, stdout and stderr files and runs
`python -m nao_kfp.cli` semantics: runpy as __main__, SystemExit gives the exit status, an
uncaught exception prints its traceback and exits 1. The parent collects exit statuses with
waitpid, so what the tests see is exactly what a user's shell would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DRIVER = r"""
import json, os, runpy, sys, traceback
import nao_kfp.cli

nao_kfp.cli.build_parser()  # imports every command module once, before forking

import contextlib, importlib, io
shown = io.StringIO()
with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
    for name in ("torch", "torchvision", "kfp.dsl", "kfp.local", "pydantic", "kserve"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an environment without it: its commands import it (and fail) themselves
if shown.getvalue():
    raise SystemExit("importing the heavy libraries printed:\n" + shown.getvalue())

def child(job):
    fd = os.open(job["stdin"], os.O_RDONLY)
    os.dup2(fd, 0)
    for n, key in ((1, "stdout"), (2, "stderr")):
        fd = os.open(job[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, n)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    sys.argv = ["nao", *job["argv"]]
    # as `python -m nao_kfp.cli` would (runpy warns about a module it finds already imported)
    del sys.modules["nao_kfp.cli"]
    code = 0
    try:
        runpy.run_module("nao_kfp.cli", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code

results = []
for job in json.load(sys.stdin):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = child(job)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    results.append(os.waitstatus_to_exitcode(status))
print(json.dumps(results))
"""


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_batch(
    invocations: list[tuple[list[str], str | None]], workdir: Path, timeout: float = 120
) -> list[Result]:
    """Run each (argv, stdin) as its own `nao` process; results in the same order."""
    jobs = []
    for i, (argv, stdin) in enumerate(invocations):
        inp = workdir / f"{i}.in"
        inp.write_text(stdin or "")
        jobs.append(
            {
                "argv": argv,
                "stdin": str(inp),
                "stdout": str(workdir / f"{i}.out"),
                "stderr": str(workdir / f"{i}.err"),
            }
        )
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    codes = json.loads(proc.stdout.splitlines()[-1])
    return [
        Result(code, Path(j["stdout"]).read_text(), Path(j["stderr"]).read_text())
        for code, j in zip(codes, jobs, strict=True)
    ]
