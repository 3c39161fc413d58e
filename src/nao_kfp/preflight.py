"""What a command checks before it writes anything: its output paths and the files it reads.

A bad output path (a folder where a file is wanted, a file where a folder is wanted, a missing
or read-only parent) and a bad input (a missing data set, an unreadable table) fail with one line
naming the flag or key before any work is done, so a command that could not start leaves nothing
behind: no empty `--out` folder, no run directory, no temp file. `created_dir` covers what the
up-front checks cannot see: a folder the command made is removed again when it then fails on a
user error.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nao_kfp.config import ChildConfig, Config
from nao_kfp.errors import ConfigError, NaoError

# The folder torchvision keeps each CIFAR set in, under child.data_dir.
TORCHVISION_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


class OutputError(NaoError):
    """An output path cannot be written as the command needs it."""


# ---------------------------------------------------------------- output paths


def output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """A file the command will write: not a folder, in an existing folder it can write in."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {path}: is a folder; expected a file name")
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"{flag} {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"{flag} {path}: {parent} is a file, not a folder")
    _check_writable(parent, path, flag)
    return path


def output_dir(path: str | os.PathLike[str], flag: str) -> Path:
    """A folder the command will write into (created with its parents when missing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{flag} {path}: is a file; expected a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{flag} {path}: {existing} is a file, not a folder")
    _check_writable(existing, path, flag)
    return path


def _check_writable(folder: Path, path: Path, flag: str) -> None:
    # os.access says yes to root everywhere, even where the file system refuses new files
    # (/proc): creating one is the only test that holds for every user.
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".nao-write-test-")
    except OSError as e:
        raise OutputError(
            f"{flag} {path}: cannot write in {folder} ({e.strerror or type(e).__name__})"
        ) from None
    os.close(fd)
    os.unlink(probe)


@contextmanager
def created_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Remove the folders this block created under path when it fails on a user error
    (NaoError); an interrupt or a crash keeps them, for a resume or a look."""
    path = Path(path)
    top: Path | None = None
    p = path
    while not p.exists():
        top, p = p, p.parent
    try:
        yield path
    except NaoError:
        if top is not None:
            shutil.rmtree(top, ignore_errors=True)
        raise


# ---------------------------------------------------------------- inputs


def check_data_dir(child: ChildConfig) -> None:
    """child.data_dir holds the data set in a layout child/data.py reads (only the layout is
    checked here: file contents are the loader's business)."""
    if not child.data_dir:
        if child.dataset in ("cifar10", "cifar100") and not child.download:
            raise ConfigError(
                f"child.data_dir: required for {child.dataset} (or set child.download=true)"
            )
        return  # digits ships with scikit-learn; ptb and image-folder are checked at load time
    from nao_kfp.child.data import PTB_FILES, staged_file  # torch: only with a data folder

    root = Path(child.data_dir)
    if not root.exists():
        raise ConfigError(f"child.data_dir: {root} does not exist")
    if not root.is_dir():
        raise ConfigError(f"child.data_dir: {root} is a file; expected a folder")
    if (root / staged_file(child.dataset)).is_file():  # staged by an earlier run
        return
    if child.dataset == "ptb":
        for name in PTB_FILES:
            if not (root / name).is_file():
                raise ConfigError(
                    f"child.data_dir: {root} has no {name} (expected {', '.join(PTB_FILES)})"
                )
    elif child.dataset == "image-folder" or (root / "train").is_dir():
        _check_image_folder(root)
    elif child.dataset in TORCHVISION_DIRS:
        if not (root / TORCHVISION_DIRS[child.dataset]).is_dir() and not child.download:
            raise ConfigError(
                f"child.data_dir: no {child.dataset} under {root} (expected "
                f"{TORCHVISION_DIRS[child.dataset]}/ as torchvision writes it, or train/<class>/ "
                "and test/<class>/ folders), and child.download is false"
            )


def _check_image_folder(root: Path) -> None:
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise ConfigError(
                f"child.data_dir: {root} has no {split}/ folder "
                "(expected train/<class>/ and test/<class>/ images)"
            )
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise ConfigError(f"child.data_dir: {root / 'train'} has no class folders")
    for name in classes:
        if not (root / "test" / name).is_dir():
            raise ConfigError(
                f"child.data_dir: {root / 'test'} has no {name}/ folder (train/ has that class)"
            )


def check_inputs(cfg: Config) -> None:
    """What a search on this machine reads, checked before its run directory exists: the data
    set (when children, a supernet or the final network are trained), the table, and the S3 credentials'
    environment variables (whether the store answers is the first task's to find out)."""
    if cfg.cluster.s3_endpoint:
        from nao_kfp.store import ACCESS_KEY_ENV, SECRET_KEY_ENV, StoreError

        for var in (ACCESS_KEY_ENV, SECRET_KEY_ENV):
            if not os.environ.get(var):
                raise StoreError(
                    f"{var}: environment variable not set; cluster.s3_endpoint "
                    f"{cfg.cluster.s3_endpoint!r} needs S3 credentials"
                )
    if cfg.evaluator.kind in ("train", "supernet") or cfg.final.enabled:
        check_data_dir(cfg.child)
    from nao_kfp.prior import read_prior

    for i, ref in enumerate(cfg.search.prior):  # s3:// ones: the first task reads them
        if not ref.startswith("s3://"):
            read_prior(cfg, ref, f"search.prior[{i}]")
    if cfg.evaluator.kind == "table":
        from nao_kfp.spaces import get_space
        from nao_kfp.tabular import read_table

        if not Path(cfg.evaluator.table).exists():
            raise ConfigError(
                f"evaluator.table: no such file {cfg.evaluator.table!r} "
                "(--set evaluator.table=<a CSV of arch,valid[,test,seconds]>)"
            )
        read_table(cfg.evaluator.table, get_space(cfg.search.space))
