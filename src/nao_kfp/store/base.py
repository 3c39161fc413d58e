"""Store keys, the Store interface, its errors and the SHA-256 check every backend applies."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from nao_kfp import validate
from nao_kfp.errors import NaoError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from nao_kfp.jsontypes import JSONObject

# Objects written before the checksum moved beside them were framed: `NAO-SHA256 <hex>\n` and
# then the payload. They still read (checked against their frame, returned without it).
MAGIC = b"NAO-SHA256 "
_FRAME = len(MAGIC) + 64 + 1
_BLOCK = 1 << 20


class StoreError(NaoError):
    """A store key is malformed, credentials are missing, or the object store refused a request."""


class StoreUnavailable(StoreError):
    """The object store did not answer (down, timed out, 5xx): worth retrying."""


class CorruptObject(StoreError):
    """A stored object does not match the SHA-256 recorded beside it (or in its old frame)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_verified(
    src: IO[bytes], out: SupportsWrite[bytes], recorded: str | None, key: str
) -> bool:
    """Copy an object's bytes from src to out, checking them against the SHA-256 recorded
    beside the object. With none recorded, an object in the old frame is checked against its
    frame and copied without it, and any other object has no checksum: it is not there (False,
    nothing written). Raises CorruptObject on a mismatch (out then holds bytes to discard)."""
    if recorded is None:
        head = src.read(_FRAME)
        if not head.startswith(MAGIC):
            return False
        recorded = head[len(MAGIC) : _FRAME - 1].decode("ascii", "replace")
        if len(head) < _FRAME or head[-1:] != b"\n":
            recorded = ""  # a truncated frame matches nothing
    digest = hashlib.sha256()
    for block in iter(lambda: src.read(_BLOCK), b""):
        digest.update(block)
        out.write(block)
    if digest.hexdigest() != recorded:
        raise CorruptObject(f"store key {key!r}: checksum mismatch (corrupted or truncated)")
    return True


def result_key(space_name: str, arch_id: str, child_digest: str) -> str:
    """Where a finished child's result JSON lives."""
    return f"results/{_part(space_name)}/{_part(child_digest)}/{_part(arch_id)}.json"


def checkpoint_key(space_name: str, arch_id: str, child_digest: str) -> str:
    """Where a child's latest per-epoch checkpoint lives."""
    return f"checkpoints/{_part(space_name)}/{_part(child_digest)}/{_part(arch_id)}/checkpoint.pt"


def result_key_of(checkpoint: str) -> str | None:
    """The result key of the child whose checkpoint is at key `checkpoint` (checkpoint_key's
    shape), else None; `checkpoint` may be a longer path that ends in such a key."""
    parts = checkpoint.replace("\\", "/").split("/")
    if len(parts) < 5 or parts[-5] != "checkpoints" or parts[-1] != "checkpoint.pt":
        return None
    _, space_name, child_digest, arch_id, _ = parts[-5:]
    return result_key(space_name, arch_id, child_digest)


def _part(text: str) -> str:
    if not text or "/" in text or "\\" in text or "\x00" in text or text in (".", ".."):
        raise StoreError(f"store key part {text!r}: expected a non-empty name without '/'")
    return text


def check_key(key: str) -> str:
    """A key is a relative path of non-empty parts, none of them '.' or '..'."""
    parts = key.split("/")
    bad = not key or key.startswith("/") or "\\" in key or "\x00" in key
    if bad or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"store key {key!r}: expected a relative path like 'results/space/x.json'")
    return key


class Store(ABC):
    """Objects addressed by key, each kept as its plain bytes with its SHA-256 beside it (how is
    the backend's: S3 user metadata, a local sidecar file). Reads check it: a mismatch raises
    CorruptObject. Missing objects, and objects with no checksum recorded (a write that never
    finished), read as False/None, never as an error."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def get_file(self, key: str, dest: Path) -> bool:
        """Copy the object to dest (parents created, written atomically); False when missing."""

    @abstractmethod
    def put_file(self, key: str, src: Path) -> None: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes | None: ...

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Every key starting with prefix (a plain string prefix, as in S3), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""

    def copy(self, src_key: str, dst_key: str) -> bool:
        """Copy an object (False when src is missing); backends may do it server-side."""
        data = self.get_bytes(src_key)
        if data is None:
            return False
        self.put_bytes(dst_key, data)
        return True

    def get_json(self, key: str) -> JSONObject | None:
        data = self.get_bytes(key)
        if data is None:
            return None

        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise StoreError(f"store key {key!r}: not UTF-8 text") from None
        obj = validate.json_value(text, f"store key {key!r}", StoreError)
        if not isinstance(obj, dict):
            raise StoreError(f"store key {key!r}: expected a JSON object")
        return obj

    def put_json(self, key: str, obj: Mapping[str, object]) -> None:
        self.put_bytes(key, json.dumps(obj, sort_keys=True, indent=1).encode() + b"\n")
