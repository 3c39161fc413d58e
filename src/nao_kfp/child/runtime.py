"""What both training loops share: device choice, determinism, per-epoch seeds, checkpoints."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nao_kfp import validate
from nao_kfp.errors import ConfigError, RecordError
from nao_kfp.results import ChildResult, TrainState


class ChildDiverged(RuntimeError):
    """The training loss became NaN or infinite (the CNN and the RNN trainer raise it)."""


CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("child.device: cuda requested but no CUDA device is available")
    return torch.device(name)


def epoch_seed(seed: int, epoch: int, what: str) -> int:
    """A seed per (run seed, epoch, purpose): each epoch's shuffling, augmentation and dropout
    are fixed by the seed alone, so a resumed run draws exactly what an uninterrupted one does."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{what}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    """torch.use_deterministic_algorithms for the duration of a child, restored afterwards (a
    process-wide switch must not leak into the caller)."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_before = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        _use_deterministic(True, warn_only=True)
    try:
        yield
    finally:
        _use_deterministic(before, warn_only=warn_before)


def _use_deterministic(mode: bool, warn_only: bool) -> None:
    """torch.use_deterministic_algorithms, without importing torch._inductor where nothing has:
    the public function imports it (a second or more of every task that trains) only to set
    inductor's own flag, which only a compile inside the context would read, and a child's
    training compiles nothing."""
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """torch's intra-op CPU threads for the duration of a child (0: unchanged), then restored."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic: a task killed while saving leaves the previous checkpoint intact."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, arch_json: object) -> dict[str, Any] | None:
    """The checkpoint at path when it belongs to this architecture, else None."""
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("arch") != arch_json:
        return None
    return state


def resumed_state(checkpoint: dict[str, Any]) -> TrainState:
    """The loop's state saved in a checkpoint: the epochs done, their history, the seconds."""
    return {
        "epoch": checkpoint["epoch"],
        "history": checkpoint["history"],
        "seconds": checkpoint["seconds"],
    }


def write_result(out_dir: Path, result: ChildResult) -> None:
    path = out_dir / RESULT
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def read_result(out_dir: Path) -> ChildResult | None:
    """out_dir's result.json, checked; None when there is none."""
    path = Path(out_dir) / RESULT
    if not os.path.lexists(path):
        return None
    data = validate.json_file(path, str(path), RecordError, max_bytes=validate.MiB)
    return ChildResult.from_json(data, str(path))


# ---------------------------------------------------------------- a supernet's checkpoints


def snapshot_path(work_dir: Path, epoch: int) -> Path:
    """Where a supernet's weights reached at `epoch` (an epochs_to) stay for scoring."""
    return Path(work_dir) / f"supernet-epoch{epoch:03d}.pt"


def check_identity(path: Path, found: dict, want: dict, config_keys: Sequence[str]) -> None:
    """A supernet checkpoint resumes only with what its weights depend on (`want`, the
    config_keys of supernet.* first: they name what to change back)."""
    for key in want:
        if found.get(key) != want[key]:
            where = f"supernet.{key}" if key in config_keys else "supernet"
            raise ConfigError(
                f"{where}: the supernet in {path.parent} was trained with {key}="
                f"{found.get(key)!r}, not {want[key]!r}; use another work directory"
            )


@dataclass(frozen=True)
class Scored:
    """An architecture scored with a supernet's shared weights: its score (None: it diverged,
    `error` says how) and what else the scoring measured, for its pool entry's extras (a
    language model's perplexity and vocabulary)."""

    score: float | None
    extra: dict[str, float | int | None] = field(default_factory=dict)
    error: str = ""


WORK_ROOT = "nao-work"


def _work_root() -> Path:
    return Path(tempfile.gettempdir()) / WORK_ROOT


@contextlib.contextmanager
def work_dir() -> Iterator[Path]:
    """A child's scratch directory, removed afterwards; named by this process's id so that a
    later task can tell a killed task's leftovers from a running one's."""
    root = _work_root()
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_work_dirs() -> list[Path]:
    """Remove the work directories of processes that are gone (killed tasks)."""
    root = _work_root()
    gone = []
    for path in root.iterdir() if root.is_dir() else []:
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
