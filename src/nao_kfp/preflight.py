"""What a command checks before it writes anything: its output paths and the files it reads.

A bad output path (a folder where a file is wanted, a file where a folder is wanted, a missing
or read-only parent) and a bad input (a missing data set, an unreadable table) fail with one line
naming the flag or key before any work is done, so a command that could not start leaves nothing
behind: no empty `--out` folder, no run directory, no temp file. `created_dir` covers what the
up-front checks cannot see: a folder the command made is removed again when it then fails on a
user error.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nao_kfp import progress, validate
from nao_kfp.config import DATASETS, ChildConfig, Config, config_from_json
from nao_kfp.errors import ConfigError, NaoError, shorten
from nao_kfp.kinds import kind_of
from nao_kfp.prior import read_prior
from nao_kfp.spaces import get_space
from nao_kfp.store import ACCESS_KEY_ENV, SECRET_KEY_ENV, StoreError, open_store
from nao_kfp.tabular import read_table

# How long the checks wait for a store that does not answer (the tasks wait
# cluster.store_deadline_s).
PREFLIGHT_DEADLINE_S = 10.0
# The folder torchvision keeps each CIFAR set in, under child.data_dir.
TORCHVISION_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


class OutputError(NaoError):
    """An output path cannot be written as the command needs it."""


# ---------------------------------------------------------------- output paths


def output_file(path: str | os.PathLike[str], flag: str) -> Path:
    """A file the command will write: a new file or a regular one it replaces (never a folder,
    a device, a FIFO or a socket), in an existing folder it can write in, with a name the file
    system takes."""
    path = _named(path, flag)
    try:
        if path.is_dir():
            raise OutputError(f"{flag} {_p(path)}: is a folder; expected a file name")
        _only_regular(path, flag)
        parent = path.parent
        if not parent.exists():
            raise OutputError(f"{flag} {_p(path)}: folder {_p(parent)} does not exist")
        if not parent.is_dir():
            raise OutputError(f"{flag} {_p(path)}: {_p(parent)} is a file, not a folder")
    except OSError as e:  # a name too long, a loop of links, ...
        raise _os_error(flag, path, e) from None
    _check_writable(parent, path, flag, name=path.name)
    return path


def output_dir(path: str | os.PathLike[str], flag: str, files: tuple[str, ...] = ()) -> Path:
    """A folder the command will write into (created with its parents when missing); `files`
    are the names it writes there, each of which must be new or a regular file."""
    path = _named(path, flag)
    try:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{flag} {_p(path)}: is a file; expected a folder")
        existing = path
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise OutputError(f"{flag} {_p(path)}: {_p(existing)} is a file, not a folder")
        limit = os.pathconf(existing, "PC_NAME_MAX")
        for part in path.relative_to(existing).parts:
            if len(os.fsencode(part)) > limit:
                raise OutputError(
                    f"{flag} {_p(path)}: a name longer than the file system's {limit} bytes"
                )
        for name in files:
            if (path / name).is_dir():
                raise OutputError(f"{flag} {_p(path / name)}: is a folder; expected a file name")
            _only_regular(path / name, flag)
    except OSError as e:
        raise _os_error(flag, path, e) from None
    _check_writable(existing, path, flag)
    return path


def _named(path: str | os.PathLike[str], flag: str) -> Path:
    if not os.fspath(path).strip():
        raise OutputError(f"{flag}: expected a path, got {os.fspath(path)!r}")
    return Path(path)


def _only_regular(path: Path, flag: str) -> None:
    """Refuse to replace anything but a regular file (as root, a device node replaced by a
    file breaks the machine's devices; writing into a FIFO blocks)."""
    if path.is_symlink() and not path.exists():
        raise OutputError(f"{flag} {_p(path)}: a link to nothing; expected a regular file")
    if path.exists() and not path.is_dir() and not path.is_file():
        kind = (
            "a FIFO" if path.is_fifo() else "a socket" if path.is_socket()
            else "a device" if path.is_block_device() or path.is_char_device()
            else "not a regular file"
        )  # fmt: skip
        raise OutputError(f"{flag} {_p(path)}: is {kind}; only regular files are written")


def _os_error(flag: str, path: Path, e: OSError) -> OutputError:
    return OutputError(f"{flag} {_p(path)}: {e.strerror or type(e).__name__}")


def _check_writable(folder: Path, path: Path, flag: str, name: str = "") -> None:
    # os.access says yes to root everywhere, even where the file system refuses new files
    # (/proc): creating one is the only test that holds for every user. The probe's name is
    # as long as the temp file a writer makes beside `name`.
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{name}." if name else ".nao-write-test-")
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            raise OutputError(f"{flag} {_p(path)}: a name too long for the file system") from None
        raise OutputError(
            f"{flag} {_p(path)}: cannot write in {_p(folder)} ({e.strerror or type(e).__name__})"
        ) from None
    os.close(fd)
    os.unlink(probe)


def _p(path: Path) -> str:
    """A path as an error line quotes it (at most errors.SHOWN characters)."""
    return shorten(str(path))


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
        _check_image_folder(root, child)
    elif child.dataset in TORCHVISION_DIRS:
        if not (root / TORCHVISION_DIRS[child.dataset]).is_dir() and not child.download:
            raise ConfigError(
                f"child.data_dir: no {child.dataset} under {root} (expected "
                f"{TORCHVISION_DIRS[child.dataset]}/ as torchvision writes it, or train/<class>/ "
                "and test/<class>/ folders), and child.download is false"
            )


def _check_image_folder(root: Path, child: ChildConfig) -> None:
    from nao_kfp.child.data import IMAGE_EXTS

    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise ConfigError(
                f"child.data_dir: {root} has no {split}/ folder "
                "(expected train/<class>/ and test/<class>/ images)"
            )
        for f in (root / split).glob("*/*"):  # a FIFO named like an image would block its reader
            if f.suffix.lower() in IMAGE_EXTS and not f.is_file():
                raise ConfigError(f"child.data_dir: {f}: not a regular file; expected an image")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise ConfigError(f"child.data_dir: {root / 'train'} has no class folders")
    for name in classes:
        if not (root / "test" / name).is_dir():
            raise ConfigError(
                f"child.data_dir: {root / 'test'} has no {name}/ folder (train/ has that class)"
            )
    images = sum(
        1 for name in classes for f in (root / "train" / name).iterdir()
        if f.suffix.lower() in IMAGE_EXTS
    )  # fmt: skip
    if images <= child.dev_size or child.dev_size + child.train_subset > images:
        raise ConfigError(
            f"child.dev_size: {child.dev_size} dev + {child.train_subset} train images do not "
            f"fit in the {images} images under {root / 'train'}"
        )


def check_corpus(cfg: Config) -> None:
    """A language model's corpus holds what the search asks of it (read as the tasks read it:
    a second or two for Penn Treebank)."""
    from nao_kfp.child.data import corpus_batches, load_corpus

    kind = kind_of(cfg)
    if kind.shares_weights:
        from nao_kfp.child.rnn_supernet_train import dev_windows

        dev_windows(load_corpus(cfg.child, cfg.supernet), cfg)
    if kind.trains_children or (kind.shares_weights and cfg.supernet.rerank_top > 0):
        corpus_batches(cfg.child)


def check_store(cfg: Config) -> None:
    """The result store answers (cluster.s3_endpoint, within PREFLIGHT_DEADLINE_S, creating
    nothing), or the local store folder can be made (cluster.store_dir)."""
    if not cfg.cluster.s3_endpoint:
        if cfg.cluster.store_dir:
            output_dir(cfg.cluster.store_dir, "cluster.store_dir")
        return

    cluster = dataclasses.replace(
        cfg.cluster, store_deadline_s=min(cfg.cluster.store_deadline_s, PREFLIGHT_DEADLINE_S)
    )
    with tempfile.TemporaryDirectory(prefix="nao-preflight-") as tmp, progress.quiet():
        open_store(cluster, Path(tmp), read_only=True).exists("preflight/probe")


RUN_CONFIG = "config.json"  # pipelines/local.py writes it first into a run's DIR
# what makes two runs the same search (the cluster section says where it runs, name what it is
# called)
SEARCH_SECTIONS = ("search", "evaluator", "controller", "child", "final", "supernet")


def check_run_dir(out: Path, cfg: Config) -> None:
    """--out is a new or empty folder, or a run of this config to resume; never a folder of
    other files or a run of another config (its results would mix with this one's)."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    saved = out / RUN_CONFIG
    if not saved.exists():
        raise OutputError(
            f"--out {out}: holds other files and no run ({RUN_CONFIG}); expected a new or empty "
            "folder, or a run's folder to resume"
        )

    try:
        text = validate.read_text(saved, str(saved), ConfigError, max_bytes=validate.MiB)
        old = config_from_json(text).to_dict()
    except NaoError as e:
        raise OutputError(
            f"--out {out}: {RUN_CONFIG} is not a run's config of this nao-kfp ({shorten(str(e), 120)}); "
            "choose another folder"
        ) from None
    new = cfg.to_dict()
    for section in SEARCH_SECTIONS:
        for key, value in new[section].items():
            if old[section].get(key) != value:
                raise OutputError(
                    f"--out {out}: holds a run of another config ({section}.{key}: "
                    f"{shorten(repr(old[section].get(key)), 60)} there, "
                    f"{shorten(repr(value), 60)} here); resume it with its settings, or "
                    "choose another folder"
                )


def check_inputs(cfg: Config) -> None:
    """What a search on this machine reads, checked before its run directory exists: the data
    set (when children, a supernet or the final network are trained), the table, and the S3 credentials'
    environment variables, the priors (the store's too)."""
    if cfg.cluster.s3_endpoint:
        for var in (ACCESS_KEY_ENV, SECRET_KEY_ENV):
            if not os.environ.get(var):
                raise StoreError(
                    f"{var}: environment variable not set; cluster.s3_endpoint "
                    f"{cfg.cluster.s3_endpoint!r} needs S3 credentials"
                )
    check_store(cfg)
    if cfg.child.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("child.device: cuda, and this machine has no CUDA device (use auto)")
    if kind_of(cfg).needs_data(cfg):
        check_data_dir(cfg.child)
        if DATASETS[cfg.child.dataset] == "text":
            check_corpus(cfg)

    # the store's priors with a short deadline: a store that does not answer now is one line
    # now, not minutes of retries in the first task
    cluster = dataclasses.replace(
        cfg.cluster, store_deadline_s=min(cfg.cluster.store_deadline_s, PREFLIGHT_DEADLINE_S)
    )
    for i, ref in enumerate(cfg.search.prior):
        if ref.startswith("s3://") and not cfg.cluster.s3_endpoint:
            # (on a cluster, KFP's importer fetches it; here it comes through the store)
            raise ConfigError(
                f"search.prior[{i}]: {shorten(ref)} is read through the store, and "
                "cluster.s3_endpoint is empty; set it (host:port) or give a local pool file"
            )
        read_prior(cfg.replace(cluster=cluster), ref, f"search.prior[{i}]")
    if kind_of(cfg).reads_table:
        if not Path(cfg.evaluator.table).exists():
            raise ConfigError(
                f"evaluator.table: no such file {cfg.evaluator.table!r} "
                "(--set evaluator.table=<a CSV of arch,valid[,test,seconds]>)"
            )
        read_table(cfg.evaluator.table, get_space(cfg.search.space))
