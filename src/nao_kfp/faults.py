"""Real faults at named points, for the reliability tests; nothing happens unless NAO_FAULTS is set.

NAO_FAULTS is a comma-separated list of `point:action[:times]`:

    point   child-start (a child begins training), child-epoch (a child's epoch checkpoint
            was written and mirrored), supernet-epoch (the same for a NAO-WS supernet), fit,
            decode, merge (inside those steps, before they write their outputs)
    action  kill   SIGKILL this process's whole process group (the search and its tasks)
            raise  raise RuntimeError (a crashing child or step)
            oom    raise torch.OutOfMemoryError
    times   how often the fault fires (default 1), counted across processes in NAO_FAULTS_DIR

A test that sets these runs the search as a real process, so a kill is a real SIGKILL.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

ENV = "NAO_FAULTS"
STATE_ENV = "NAO_FAULTS_DIR"


class InjectedFault(RuntimeError):
    """The `raise` action."""


def hit(point: str) -> None:
    spec = os.environ.get(ENV, "")
    if not spec:
        return
    for item in spec.split(","):
        name, action, *rest = item.strip().split(":")
        if name != point or not _fire(f"{name}-{action}", int(rest[0]) if rest else 1):
            continue
        if action == "kill":
            os.killpg(os.getpgrp(), signal.SIGKILL)
        if action == "oom":
            import torch

            raise torch.OutOfMemoryError(f"injected out-of-memory at {point}")
        raise InjectedFault(f"injected fault at {point}")


def _fire(what: str, times: int) -> bool:
    """Count one more firing of `what`; False once it has fired `times` times."""
    state = Path(os.environ.get(STATE_ENV, "") or "/nonexistent")
    if not state.is_dir():
        return True
    counter = state / what
    n = int(counter.read_text() or 0) if counter.exists() else 0
    if n >= times:
        return False
    counter.write_text(str(n + 1))
    return True
