"""The local-directory backend: atomic writes through a temp file and os.replace."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from nao_kfp.store.base import Store, check_key


class LocalStore(Store):
    """Objects as files under root; writes go to a temp file in the same directory, then os.replace."""

    _TMP_SUFFIX = ".tmp-store"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def get_file(self, key: str, dest: Path) -> bool:
        src = self._path(key)
        try:
            with src.open("rb") as f, _atomic_writer(Path(dest)) as out:
                shutil.copyfileobj(f, out)
        except FileNotFoundError:
            return False
        return True

    def put_file(self, key: str, src: Path) -> None:
        with Path(src).open("rb") as f, _atomic_writer(self._path(key)) as out:
            shutil.copyfileobj(f, out)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put_bytes(self, key: str, data: bytes) -> None:
        with _atomic_writer(self._path(key)) as out:
            out.write(data)

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.endswith(self._TMP_SUFFIX):  # a writer's unfinished temp file
                    continue
                key = (Path(dirpath) / name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def copy(self, src_key: str, dst_key: str) -> bool:
        try:
            self.put_file(dst_key, self._path(src_key))
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


@contextmanager
def _atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """Write to a sibling temp file, then rename over path: readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=LocalStore._TMP_SUFFIX
    )
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
