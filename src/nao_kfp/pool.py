"""Pool files: JSONL, one evaluated (or to-be-evaluated) architecture per line.

Schema of a line (a JSON object):

    arch       string, required  the architecture in its space's native string form
    space      string, required  the search space's name (nasnet, enas, enas-rnn, nb201)
    accuracy   number or null    the search's score in [0, 1], higher is better: the space's
                                 metric's (metric.py; an image network's dev accuracy); null
                                 when not evaluated yet or failed
    status     string            "ok" (accuracy is a number), "failed" or "pending" (accuracy
                                 is null); defaults to "ok" when accuracy is a number, else
                                 "pending"
    id         string, optional  canonical id; recomputed on read and checked when present
    round      integer or null   the round whose children evaluated it (1 = the initial sample)
    source     string            where it came from: random, nao, nao-nearest, random-fill, ...
    seed_arch  string or null    (proposed) the seed architecture whose embedding was moved
    eta        number or null    (proposed) the step size that decoded it
    predicted  number or null    (proposed) the predictor's accuracy for it when it was proposed
    predicted_before  number or null  (proposed) the predictor's accuracy for its seed
    error      string or null    (failed) why
    ...        anything else an evaluator records (params, seconds, cached, ...) is kept as is
               in `extra`. Files written before these keys were fields read the same; their
               `predicted_after` is read as `predicted`.

Readers reject a malformed line with `file:line: what is wrong`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from nao_kfp import validate
from nao_kfp.errors import ArchError, PoolError, shown
from nao_kfp.jsontypes import JSONObject
from nao_kfp.spaces import SPACES, Arch, SearchSpace

STATUSES = ("ok", "failed", "pending")
# A pool file's limits: a search's pool of 100,000 architectures is about 30 MB; one line holds
# one architecture and its extras.
MAX_POOL_BYTES = 1 << 30
MAX_LINE = 1 << 20


# typed fields of an entry beyond arch/space/accuracy/status (written when set)
FIELDS = ("round", "source", "seed_arch", "eta", "predicted", "predicted_before", "error")
LEGACY = {"predicted_after": "predicted"}


@dataclass(frozen=True)
class PoolLine:
    """The typed keys of a pool line as the file holds them, checked by validate.record (the
    line's other keys are the entry's `extra`); parse_record adds what types cannot say."""

    arch: str
    space: str
    accuracy: float | None = None
    status: Literal["ok", "failed", "pending"] | None = None
    id: str | None = None
    round: int | None = None
    source: str | None = None
    seed_arch: str | None = None
    eta: float | None = None
    predicted: float | None = None
    predicted_before: float | None = None
    error: str | None = None
    predicted_after: float | None = None  # older files' name of `predicted`


LINE_KEYS = frozenset(f.name for f in fields(PoolLine))


@dataclass
class PoolEntry:
    arch: Arch
    space: str
    accuracy: float | None = None
    status: str = "pending"
    round: int | None = None
    source: str = ""
    seed_arch: str | None = None
    eta: float | None = None
    predicted: float | None = None
    predicted_before: float | None = None
    error: str | None = None
    # every other key of the entry's line, kept and written back as it is: a child's result
    # (params, macs, what its metric measured, ...), a prior's source and z, whatever a user's file adds;
    # arbitrary JSON: read it through number(), integer() and text()
    extra: JSONObject = field(default_factory=dict)

    def number(self, key: str) -> float | None:
        """extra[key] as a float; None when it is missing or not a number."""
        value = self.extra.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    def integer(self, key: str) -> int | None:
        """extra[key] as an int (a count: params, MACs, a vocabulary); None when it is missing
        or not a number."""
        value = self.number(key)
        return None if value is None else int(value)

    def text(self, key: str) -> str:
        """extra[key] as text ('' when missing)."""
        value = self.extra.get(key)
        return "" if value is None else str(value)

    @property
    def sp(self) -> SearchSpace[Arch]:
        return SPACES[self.space]

    @property
    def id(self) -> str:
        return self.sp.canonical_id(self.arch)

    @property
    def arch_str(self) -> str:
        return self.sp.to_string(self.arch)

    def to_record(self) -> JSONObject:
        rec: JSONObject = {
            "arch": self.arch_str,
            "space": self.space,
            "id": self.id,
            "accuracy": self.accuracy,
            "status": self.status,
        }
        for key in FIELDS:
            value = getattr(self, key)
            if value is not None and value != "":
                rec[key] = value
        rec.update({k: v for k, v in self.extra.items() if k not in rec})
        return rec


def entry(
    space: SearchSpace[Arch],
    arch: Arch,
    accuracy: float | None = None,
    status: str | None = None,
    **extra: Any,
) -> PoolEntry:
    if status is None:
        status = "ok" if accuracy is not None else "pending"
    typed = {LEGACY.get(k, k): extra.pop(k) for k in list(extra) if LEGACY.get(k, k) in FIELDS}
    return PoolEntry(
        arch=arch, space=space.name, accuracy=accuracy, status=status, **typed, extra=dict(extra)
    )


def parse_record(rec: Any, where: str) -> PoolEntry:
    """One pool line's entry; a bad line is one PoolError naming `where` and the key."""
    if not isinstance(rec, dict):
        raise PoolError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    acc = rec.get("accuracy")
    if isinstance(acc, float) and not math.isfinite(acc):
        raise PoolError(f"{where}: accuracy: {acc} is not allowed; use null with status failed")
    try:
        line = validate.record(PoolLine, {k: v for k, v in rec.items() if k in LINE_KEYS}, "", _Bad)
    except _Bad as e:
        raise PoolError(f"{where}: {e}") from None
    space = SPACES.get(line.space)
    if space is None:
        raise PoolError(
            f"{where}: space: unknown space {shown(line.space)}; expected one of {', '.join(SPACES)}"
        )
    try:
        arch = space.parse(line.arch)
    except ArchError as e:
        raise PoolError(f"{where}: arch: {e}") from None
    acc = line.accuracy
    if acc is not None and not 0.0 <= acc <= 1.0:
        raise PoolError(
            f"{where}: accuracy: expected a fraction in [0, 1], got {acc} (percentages: divide by 100)"
        )
    status = line.status or ("ok" if acc is not None else "pending")
    if status == "ok" and acc is None:
        raise PoolError(f"{where}: accuracy: status ok needs a number")
    if status != "ok" and acc is not None:
        raise PoolError(f"{where}: accuracy: status {status} needs null, got {shown(acc)}")
    cid = space.canonical_id(arch)
    if line.id is not None and line.id != cid:
        raise PoolError(
            f"{where}: id: {shown(line.id)} does not match the architecture (expected {cid})"
        )
    return PoolEntry(
        arch=arch,
        space=space.name,
        accuracy=acc,
        status=status,
        round=line.round,
        source=line.source or "",
        seed_arch=line.seed_arch,
        eta=line.eta,
        predicted=line.predicted if line.predicted is not None else line.predicted_after,
        predicted_before=line.predicted_before,
        error=line.error,
        extra={k: v for k, v in rec.items() if k not in LINE_KEYS},
    )


class _Bad(Exception):
    """validate.record's one line about a pool line, before PoolError adds the file:line."""


def read_pool(path: str | os.PathLike[str]) -> list[PoolEntry]:
    """A pool file (JSONL), every line checked: within the size and JSON limits
    (MAX_POOL_BYTES, MAX_LINE, validate.json_value), one entry per architecture."""
    path = Path(path)
    if not path.exists():
        raise PoolError(f"{path}: no such pool file")
    if path.is_dir():
        raise PoolError(f"{path}: is a directory; expected a pool file (JSONL)")
    if not path.is_file():
        raise PoolError(f"{path}: not a regular file; expected a pool file (JSONL)")
    size = path.stat().st_size
    if size > MAX_POOL_BYTES:
        raise PoolError(f"{path}: {size} bytes; expected at most {MAX_POOL_BYTES} (a pool file)")
    out = []
    first_line: dict[str, int] = {}
    with path.open("rb") as f:
        for lineno, raw in enumerate(iter(lambda: f.readline(MAX_LINE + 1), b""), start=1):
            where = f"{path}:{lineno}"
            if len(raw) > MAX_LINE:
                raise PoolError(f"{where}: a line longer than {MAX_LINE} bytes")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PoolError(f"{where}: not UTF-8 text") from None
            if not line.strip():
                continue
            rec = validate.json_value(line, where, PoolError)
            item = parse_record(rec, where)
            if item.id in first_line:
                raise PoolError(
                    f"{where}: arch: duplicate of line {first_line[item.id]} (canonical id {item.id})"
                )
            first_line[item.id] = lineno
            out.append(item)
    return out


def write_pool(path: str | os.PathLike[str], entries: Iterable[PoolEntry]) -> None:
    """Write atomically, so a killed step never leaves half a pool behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            for e in entries:
                f.write(json.dumps(e.to_record(), sort_keys=True) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dedup(entries: Iterable[PoolEntry]) -> list[PoolEntry]:
    """Keep the first entry per canonical id, but prefer an evaluated one over a pending one."""
    by_id: dict[str, PoolEntry] = {}
    for e in entries:
        old = by_id.get(e.id)
        if old is None or (old.status != "ok" and e.status == "ok"):
            by_id[e.id] = e
    return list(by_id.values())


def evaluated(entries: Iterable[PoolEntry]) -> list[PoolEntry]:
    return [e for e in entries if e.status == "ok" and e.accuracy is not None]
