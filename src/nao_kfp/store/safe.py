"""What the search stores through: checksummed objects, retried with backoff up to a deadline.

Every object is framed as `NAO-SHA256 <hex digest of the payload>\\n<payload>`. A read whose
payload does not match (bit rot, a truncated upload, a foreign writer) is reported once and
treated as missing, so a corrupted result is retrained and a corrupted checkpoint is never
loaded. Objects without the frame (stores written before it) read as they are.

A transient failure (StoreUnavailable: the server is down, times out or answers 5xx) is
retried with exponential backoff until `deadline_s` has passed, with a progress line per wait,
so a blinking object store costs time, not work; after the deadline the StoreError propagates
and fails the task (KFP retries it; `nao search` stops with that one line). Other errors (bad
credentials, a bad key) fail at once.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nao_kfp import progress
from nao_kfp.store.base import Store, StoreError, StoreUnavailable

T = TypeVar("T")
MAGIC = b"NAO-SHA256 "
_HEADER = len(MAGIC) + 64 + 1


class CorruptObject(StoreError):
    """A stored object's payload does not match its checksum."""


def frame(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def unframe(data: bytes, key: str) -> bytes:
    if not data.startswith(MAGIC):
        return data  # written before checksums
    digest, payload = data[len(MAGIC) : _HEADER - 1], data[_HEADER:]
    if len(data) < _HEADER or hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CorruptObject(f"store key {key!r}: checksum mismatch (corrupted or truncated)")
    return payload


class SafeStore(Store):
    def __init__(
        self,
        inner: Store,
        *,
        deadline_s: float = 300.0,
        delay_s: float = 1.0,
        max_delay_s: float = 30.0,
        on_corrupt: Callable[[str], None] | None = None,
    ) -> None:
        self.inner = inner
        self.deadline_s, self.delay_s, self.max_delay_s = deadline_s, delay_s, max_delay_s
        self.on_corrupt = on_corrupt or (lambda msg: print(msg, flush=True))

    def __repr__(self) -> str:
        return f"SafeStore({self.inner!r})"

    def _retry(self, action: str, key: str, op: Callable[[], T]) -> T:
        start, delay, attempt = time.monotonic(), self.delay_s, 1
        while True:
            try:
                return op()
            except StoreUnavailable as e:
                waited = time.monotonic() - start
                if waited + delay > self.deadline_s:
                    raise StoreError(
                        f"{e} (gave up after {attempt} attempts over {waited:.0f}s; "
                        f"cluster.store_deadline_s is {self.deadline_s:g})"
                    ) from None
                progress.emit(
                    "store_wait", action=action, key=key, attempt=attempt,
                    waited=round(waited, 1), retry_in=delay, error=str(e),
                )  # fmt: skip
                time.sleep(delay)
                delay, attempt = min(delay * 2, self.max_delay_s), attempt + 1

    def _checked(self, key: str, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        try:
            return unframe(data, key)
        except CorruptObject as e:
            self.on_corrupt(f"{e}; ignored")
            return None

    # ------------------------------------------------------------ the Store interface

    def exists(self, key: str) -> bool:
        return self._retry("stat", key, lambda: self.inner.exists(key))

    def get_bytes(self, key: str) -> bytes | None:
        return self._checked(key, self._retry("read", key, lambda: self.inner.get_bytes(key)))

    def put_bytes(self, key: str, data: bytes) -> None:
        framed = frame(data)
        self._retry("write", key, lambda: self.inner.put_bytes(key, framed))

    def get_file(self, key: str, dest: Path) -> bool:
        dest = Path(dest)
        with tempfile.TemporaryDirectory(prefix="nao-store-") as tmp:
            raw = Path(tmp) / "object"
            if not self._retry("download", key, lambda: self.inner.get_file(key, raw)):
                return False
            payload = self._checked(key, raw.read_bytes())
            if payload is None:
                return False
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(f".{dest.name}.part")
            part.write_bytes(payload)
            part.replace(dest)  # dest is never half-written
        return True

    def put_file(self, key: str, src: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="nao-store-") as tmp:
            framed = Path(tmp) / "object"
            digest = hashlib.sha256()
            with Path(src).open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            with Path(src).open("rb") as f, framed.open("wb") as out:
                out.write(MAGIC + digest.hexdigest().encode() + b"\n")
                shutil.copyfileobj(f, out)
            self._retry("upload", key, lambda: self.inner.put_file(key, framed))

    def copy(self, src_key: str, dst_key: str) -> bool:
        return self._retry("copy", src_key, lambda: self.inner.copy(src_key, dst_key))

    def list(self, prefix: str = "") -> list[str]:
        return self._retry("list", prefix, lambda: self.inner.list(prefix))

    def delete(self, key: str) -> None:
        self._retry("delete", key, lambda: self.inner.delete(key))


def unwrap(store: Any) -> Any:
    return store.inner if isinstance(store, SafeStore) else store
