"""Store keys, the Store interface and its error."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from nao_kfp.errors import NaoError


class StoreError(NaoError):
    """A store key is malformed, credentials are missing, or the object store refused a request."""


class StoreUnavailable(StoreError):
    """The object store did not answer (down, timed out, 5xx): worth retrying."""


def result_key(space_name: str, arch_id: str, child_digest: str) -> str:
    """Where a finished child's result JSON lives."""
    return f"results/{_part(space_name)}/{_part(child_digest)}/{_part(arch_id)}.json"


def checkpoint_key(space_name: str, arch_id: str, child_digest: str) -> str:
    """Where a child's latest per-epoch checkpoint lives."""
    return f"checkpoints/{_part(space_name)}/{_part(child_digest)}/{_part(arch_id)}/checkpoint.pt"


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
    """Objects addressed by key. Missing objects read as False/None, never as an error."""

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

    def get_json(self, key: str) -> dict[str, Any] | None:
        data = self.get_bytes(key)
        if data is None:
            return None
        try:
            obj = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise StoreError(f"store key {key!r}: not valid JSON ({e})") from None
        if not isinstance(obj, dict):
            raise StoreError(f"store key {key!r}: expected a JSON object")
        return obj

    def put_json(self, key: str, obj: dict[str, Any]) -> None:
        self.put_bytes(key, json.dumps(obj, sort_keys=True, indent=1).encode() + b"\n")
