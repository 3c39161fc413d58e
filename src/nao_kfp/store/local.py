"""The local-directory backend: plain files, each with its SHA-256 in a sidecar file.

An object is the file `root/<key>`, exactly the bytes that were stored (a checkpoint stays a
torch file), and its checksum is the sidecar `root/<key>.sha256` in `sha256sum` format, so
`sha256sum -c checkpoint.pt.sha256` checks it too. A file without a sidecar is not there.

A write puts the new file under a temporary name (fsynced), removes the old sidecar, renames
the file into place, then writes the new sidecar (a temp file renamed too). A crash at any point
leaves the old object with its sidecar, or an object with no sidecar (not there), or the new
object with its sidecar: never a sidecar that claims other bytes than the file beside it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from nao_kfp.store.base import MAGIC, Store, StoreError, check_key, copy_verified

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

SIDECAR = ".sha256"


class _NoChecksum(Exception):
    """The object records no checksum: it reads as missing."""


class LocalStore(Store):
    """Objects as files under root, checksums in sidecars; every file is written atomically."""

    _TMP_SUFFIX = ".tmp-store"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        if check_key(key).endswith((SIDECAR, self._TMP_SUFFIX)):
            raise StoreError(
                f"store key {key!r}: names ending in {SIDECAR} or {self._TMP_SUFFIX} are the "
                "local store's own files"
            )
        return self.root / key

    def exists(self, key: str) -> bool:
        path = self._path(key)
        return path.is_file() and (_sidecar(path).is_file() or _framed(path))

    def get_file(self, key: str, dest: Path) -> bool:
        try:
            with _atomic_writer(Path(dest)) as out:
                self._read(key, out)
        except (FileNotFoundError, _NoChecksum):
            return False
        return True

    def get_bytes(self, key: str) -> bytes | None:
        out = io.BytesIO()
        try:
            self._read(key, out)
        except (FileNotFoundError, _NoChecksum):
            return None
        return out.getvalue()

    def _read(self, key: str, out: SupportsWrite[bytes]) -> None:
        path = self._path(key)
        recorded = _recorded(path)
        with path.open("rb") as f:
            if not copy_verified(f, out, recorded, key):
                raise _NoChecksum(key)

    def put_file(self, key: str, src: Path) -> None:
        with Path(src).open("rb") as f, self._writing(key) as out:
            shutil.copyfileobj(f, out)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._writing(key) as out:
            out.write(data)

    def copy(self, src_key: str, dst_key: str) -> bool:
        """A checked copy: a corrupted source raises CorruptObject and dst_key is left as it was."""
        try:
            with self._writing(dst_key) as out:
                self._read(src_key, out)
        except (FileNotFoundError, _NoChecksum):
            return False
        return True

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(self.root):
            names = set(files)
            for name in files:
                if name.endswith((self._TMP_SUFFIX, SIDECAR)):  # a writer's temp file, a checksum
                    continue
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and (name + SIDECAR in names or _framed(path)):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        _sidecar(path).unlink(missing_ok=True)  # first: a crash between leaves "not there"
        path.unlink(missing_ok=True)

    @contextmanager
    def _writing(self, key: str) -> Iterator[_Hashing]:
        """A writer for key's new content; when the block ends, the object and its sidecar are
        replaced in the order the module docstring gives."""
        path = self._path(key)
        with _staged(path) as (out, tmp):
            hashing = _Hashing(out)
            yield hashing
        try:
            _sidecar(path).unlink(missing_ok=True)
            _fsync_dir(path.parent)  # the old object is "not there" before the new one is
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _replace(tmp, path)
        with _atomic_writer(_sidecar(path)) as side:
            side.write(f"{hashing.digest.hexdigest()}  {path.name}\n".encode())
        _fsync_dir(path.parent)


class _Hashing:
    """A binary writer that hashes what passes through it."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.digest = out, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.out.write(data)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR)


def _recorded(path: Path) -> str | None:
    """The digest the sidecar records ('' for a malformed one, which matches nothing)."""
    side = _sidecar(path)
    try:
        if side.stat().st_size > 4096 or not side.is_file():  # a folder, a FIFO, a device
            raise StoreError(f"{side}: not a checksum file (expected `<sha256>  {path.name}`)")
        text = side.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return None
    return (text.split() or [""])[0]


def _framed(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except FileNotFoundError:
        return False


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _staged(path: Path) -> Iterator[tuple[IO[bytes], Path]]:
    """A temp file beside path (which the list skips), fsynced when the block ends and removed
    when it raises; renaming it is the caller's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=LocalStore._TMP_SUFFIX
    )
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def _atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """Write to a sibling temp file, then rename over path: readers never see a partial file."""
    with _staged(path) as (f, tmp):
        yield f
    _replace(tmp, path)
