"""What the search stores through: checked objects, retried with backoff up to a deadline.

Every backend keeps an object's SHA-256 beside it and checks it on every read (base.Store). A
read that fails the check (bit rot, a truncated upload, a foreign writer) is reported once and
treated as missing, so a corrupted result is retrained and a corrupted checkpoint is never
loaded: the previous epoch's is restored instead.

A transient failure (StoreUnavailable: the server is down, times out or answers 5xx) is
retried with exponential backoff until `deadline_s` has passed, with a progress line per wait,
so a blinking object store costs time, not work; after the deadline the StoreError propagates
and fails the task (KFP retries it; `nao search` stops with that one line). Other errors (bad
credentials, a bad key) fail at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from nao_kfp import progress
from nao_kfp.store.base import CorruptObject, Store, StoreError, StoreUnavailable

T = TypeVar("T")


class SafeStore(Store):
    def __init__(
        self,
        inner: Store,
        *,
        deadline_s: float = 300.0,
        delay_s: float = 1.0,
        max_delay_s: float = 30.0,
        on_corrupt: Callable[[CorruptObject], None] | None = None,
    ) -> None:
        self.inner = inner
        self.deadline_s, self.delay_s, self.max_delay_s = deadline_s, delay_s, max_delay_s
        self.on_corrupt = on_corrupt or (lambda e: print(f"{e}; ignored", flush=True))

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

    def _checked(self, read: Callable[[], T], missing: T) -> T:
        try:
            return read()
        except CorruptObject as e:
            self.on_corrupt(e)
            return missing

    # ------------------------------------------------------------ the Store interface

    def exists(self, key: str) -> bool:
        return self._retry("stat", key, lambda: self.inner.exists(key))

    def get_bytes(self, key: str) -> bytes | None:
        return self._checked(
            lambda: self._retry("read", key, lambda: self.inner.get_bytes(key)), None
        )

    def put_bytes(self, key: str, data: bytes) -> None:
        self._retry("write", key, lambda: self.inner.put_bytes(key, data))

    def get_file(self, key: str, dest: Path) -> bool:
        return self._checked(
            lambda: self._retry("download", key, lambda: self.inner.get_file(key, dest)), False
        )

    def put_file(self, key: str, src: Path) -> None:
        self._retry("upload", key, lambda: self.inner.put_file(key, src))

    def copy(self, src_key: str, dst_key: str) -> bool:
        """A corrupted source is reported and not copied (False): dst_key keeps what it held."""
        return self._checked(
            lambda: self._retry("copy", src_key, lambda: self.inner.copy(src_key, dst_key)), False
        )

    def list(self, prefix: str = "") -> list[str]:
        return self._retry("list", prefix, lambda: self.inner.list(prefix))

    def delete(self, key: str) -> None:
        self._retry("delete", key, lambda: self.inner.delete(key))


def unwrap(store: Store) -> Store:
    return store.inner if isinstance(store, SafeStore) else store
