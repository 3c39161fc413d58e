"""Pool files: JSONL, one evaluated (or to-be-evaluated) architecture per line.

Schema of a line (a JSON object):

    arch       string, required  the architecture in its space's native string form
    space      string, required  the search space's name (nasnet, enas, enas-rnn, nb201)
    accuracy   number or null    the search's score, higher is better: dev accuracy in [0, 1]
                                 for image spaces, a monotone function of dev perplexity for
                                 enas-rnn; null when not evaluated yet or failed
    status     string            "ok" (accuracy is a number), "failed" or "pending" (accuracy
                                 is null); defaults to "ok" when accuracy is a number, else
                                 "pending"
    id         string, optional  canonical id; recomputed on read and checked when present
    ...        anything else a step records (round, source, seed_arch, eta, predicted, params,
               seconds, ...) is kept as is in `extra`.

Readers reject a malformed line with `file:line: what is wrong`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nao_kfp.errors import ArchError, PoolError
from nao_kfp.spaces import SPACES, SearchSpace

STATUSES = ("ok", "failed", "pending")


@dataclass
class PoolEntry:
    arch: Any
    space: str
    accuracy: float | None = None
    status: str = "pending"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sp(self) -> SearchSpace[Any]:
        return SPACES[self.space]

    @property
    def id(self) -> str:
        return self.sp.canonical_id(self.arch)

    @property
    def arch_str(self) -> str:
        return self.sp.to_string(self.arch)

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "arch": self.arch_str,
            "space": self.space,
            "id": self.id,
            "accuracy": self.accuracy,
            "status": self.status,
        }
        rec.update({k: v for k, v in self.extra.items() if k not in rec})
        return rec


def entry(
    space: SearchSpace[Any],
    arch: Any,
    accuracy: float | None = None,
    status: str | None = None,
    **extra: Any,
) -> PoolEntry:
    if status is None:
        status = "ok" if accuracy is not None else "pending"
    return PoolEntry(
        arch=arch, space=space.name, accuracy=accuracy, status=status, extra=dict(extra)
    )


def parse_record(rec: Any, where: str) -> PoolEntry:
    if not isinstance(rec, dict):
        raise PoolError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    for key in ("arch", "space"):
        if key not in rec:
            raise PoolError(f"{where}: missing required key {key!r}")
        if not isinstance(rec[key], str):
            raise PoolError(f"{where}: {key}: expected a string, got {rec[key]!r}")
    space = SPACES.get(rec["space"])
    if space is None:
        raise PoolError(
            f"{where}: space: unknown space {rec['space']!r}; expected one of {', '.join(SPACES)}"
        )
    try:
        arch = space.parse(rec["arch"])
    except ArchError as e:
        raise PoolError(f"{where}: arch: {e}") from None
    acc = rec.get("accuracy")
    if acc is not None and (isinstance(acc, bool) or not isinstance(acc, (int, float))):
        raise PoolError(f"{where}: accuracy: expected a number or null, got {acc!r}")
    if acc is not None and not math.isfinite(acc):
        raise PoolError(f"{where}: accuracy: {acc} is not allowed; use null with status failed")
    status = rec.get("status", "ok" if acc is not None else "pending")
    if not isinstance(status, str) or status not in STATUSES:
        raise PoolError(f"{where}: status: expected one of {', '.join(STATUSES)}, got {status!r}")
    if status == "ok" and acc is None:
        raise PoolError(f"{where}: accuracy: status ok needs a number")
    if status != "ok" and acc is not None:
        raise PoolError(f"{where}: accuracy: status {status} needs null, got {acc!r}")
    cid = space.canonical_id(arch)
    if "id" in rec and rec["id"] != cid:
        raise PoolError(
            f"{where}: id: {rec['id']!r} does not match the architecture (expected {cid})"
        )
    extra = {k: v for k, v in rec.items() if k not in ("arch", "space", "accuracy", "status", "id")}
    return PoolEntry(
        arch=arch,
        space=space.name,
        accuracy=None if acc is None else float(acc),
        status=status,
        extra=extra,
    )


def read_pool(path: str | os.PathLike[str]) -> list[PoolEntry]:
    path = Path(path)
    if not path.exists():
        raise PoolError(f"{path}: no such pool file")
    out = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PoolError(f"{where}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise PoolError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            out.append(parse_record(rec, where))
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
