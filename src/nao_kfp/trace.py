"""A digest trace of a NAO run: where two runs of the same seed first part.

Two runs of one seed on two machines can end with different architectures while agreeing on
everything up to one float operation; the final result alone cannot say where. While a trace
is on (`recording()`), the controller's steps record a short digest of each tensor that
carries the search forward, in the order the run computes them:

    round R fit         the parameters after each epoch, then the predictions on the pool
    round R optimize    the seeds' embeddings h, df/dh and f before the step
    round R decode      each step size's moved embeddings and the tokens decoded from them,
                        and the predictions of the new architectures

The reproduce check stores the trace of every NAO run beside its result, so a rerun that
differs names the first step and tensor that differ (`first_difference`), not only the last
architecture. Recording costs one hash of a few kilobytes per entry; off, it costs nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

# one entry: [where, what, digest], e.g. ["round 2 fit", "epoch 3 parameters", "3fa9c01b2e7d"]
Entry = list[str]
DIGEST_CHARS = 12

_entries: list[Entry] | None = None
_where: list[str] = []


@contextlib.contextmanager
def recording() -> Iterator[list[Entry]]:
    """Record the digests of the block into the yielded list (nested blocks record into the
    innermost list only)."""
    global _entries
    outer, _entries = _entries, []
    try:
        yield _entries
    finally:
        _entries = outer


def active() -> bool:
    return _entries is not None


@contextlib.contextmanager
def step(where: str) -> Iterator[None]:
    """Name the step the entries of the block belong to (e.g. "round 2 fit")."""
    _where.append(where)
    try:
        yield
    finally:
        _where.pop()


def current() -> str:
    """The innermost step's name ("" outside any)."""
    return _where[-1] if _where else ""


def record(what: str, value: Tensor | Mapping[str, Tensor] | Iterable[object]) -> None:
    """Append the digest of `value` (a tensor, a state dict, or plain values such as token
    lists) under the current step; nothing when no trace is recording."""
    if _entries is None:
        return
    _entries.append([current(), what, digest(value)])


def digest(value: Tensor | Mapping[str, Tensor] | Iterable[object]) -> str:
    """A short hash of the exact bits of a tensor (or of every tensor of a state dict, in key
    order, with its name and shape), or of the repr of plain values."""
    import torch

    h = hashlib.sha256()
    if isinstance(value, torch.Tensor):
        _update(h, value)
    elif isinstance(value, Mapping):
        for name in sorted(value):
            h.update(name.encode())
            _update(h, value[name])
    else:
        h.update(repr(list(value)).encode())
    return h.hexdigest()[:DIGEST_CHARS]


def _update(h: hashlib._Hash, t: Tensor) -> None:
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.numpy().tobytes() if t.numel() else b"")


def first_difference(reference: list[Entry], actual: list[Entry]) -> str | None:
    """Where two traces first part, in words; None when they are equal."""
    for i, (a, b) in enumerate(zip(reference, actual, strict=False)):
        if a != b:
            before = f"; the entry before ({_name(reference[i - 1])}) matches" if i else ""
            if a[:2] != b[:2]:
                return f"entry {i + 1}: {_name(a)} (reference) != {_name(b)} (this run){before}"
            return f"{_name(a)}: {a[2]} (reference) != {b[2]} (this run){before}"
    if len(reference) != len(actual):
        n = min(len(reference), len(actual))
        longer = "the reference" if len(reference) > n else "this run"
        return f"the traces agree for {n} entries, then {longer} has more"
    return None


def _name(e: Entry) -> str:
    return f"{e[0]}, {e[1]}" if e[0] else e[1]
