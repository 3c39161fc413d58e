"""Choosing a store from config, and the child cache built on it: results and checkpoints."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp.results import ChildResult
from nao_kfp.store.base import CorruptObject, Store, StoreError, checkpoint_key, result_key
from nao_kfp.store.local import LocalStore
from nao_kfp.store.s3 import S3Store
from nao_kfp.store.safe import SafeStore

if TYPE_CHECKING:
    from nao_kfp.config import ClusterConfig

ACCESS_KEY_ENV = "S3_ACCESS_KEY"
SECRET_KEY_ENV = "S3_SECRET_KEY"


def open_store(
    cluster: ClusterConfig,
    default_dir: Path,
    *,
    on_corrupt: Callable[[CorruptObject], None] | None = None,
    read_only: bool = False,
) -> Store:
    """S3 when cluster.s3_endpoint is set (credentials from S3_ACCESS_KEY / S3_SECRET_KEY),
    else a local directory: cluster.store_dir, or default_dir when that is empty. Either way
    behind SafeStore: checked objects (a corrupted one is reported and read as missing, unless
    on_corrupt raises), transient failures retried up to cluster.store_deadline_s. A read_only
    store creates no S3 bucket (a missing one holds no objects)."""
    return SafeStore(
        _backend(cluster, default_dir, read_only),
        deadline_s=cluster.store_deadline_s,
        delay_s=cluster.store_retry_delay_s,
        on_corrupt=on_corrupt,
    )


def _backend(cluster: ClusterConfig, default_dir: Path, read_only: bool = False) -> Store:
    if not cluster.s3_endpoint:
        return LocalStore(Path(cluster.store_dir) if cluster.store_dir else Path(default_dir))
    creds = []
    for var in (ACCESS_KEY_ENV, SECRET_KEY_ENV):
        value = os.environ.get(var, "")
        if not value:
            raise StoreError(
                f"{var}: environment variable not set; cluster.s3_endpoint {cluster.s3_endpoint!r} "
                f"needs S3 credentials (on the cluster: secret {cluster.s3_secret!r})"
            )
        creds.append(value)
    return S3Store(
        cluster.s3_endpoint, cluster.s3_bucket, creds[0], creds[1], secure=cluster.s3_secure,
        create_bucket=not read_only,
    )  # fmt: skip


def cached_result(store: Store, key: str) -> ChildResult | None:
    """A finished child's result, or None when it has not been trained with this config."""
    data = store.get_json(key)
    return None if data is None else ChildResult.from_json(data, f"store key {key!r}")


def previous_key(key: str) -> str:
    """Where the checkpoint before the latest one is kept, the fallback for a corrupt latest."""
    stem, dot, ext = key.rpartition(".")
    return f"{stem}.prev.{ext}" if dot else f"{key}.prev"


def mirror_checkpoint(
    store: Store, key: str, *, log: Callable[[str], None] | None = None
) -> Callable[[Path], None]:
    """A train_child on_checkpoint callback that uploads each epoch's checkpoint to key, after
    keeping the one it replaces at previous_key(key).

    An upload that still fails after the store's retries raises StoreError: the task fails
    and is retried (KFP), instead of training on with nothing to resume from."""

    def upload(path: Path) -> None:
        store.copy(key, previous_key(key))
        store.put_file(key, path)
        if log is not None:
            log(f"checkpoint mirrored to {key}")

    return upload


def restore_checkpoint(store: Store, key: str, dest: Path) -> bool:
    """Before a (retried) child starts: fetch its mirrored checkpoint to dest; a latest one
    that fails its checksum (or records none: an upload that never finished) is skipped for the
    previous one.

    A checkpoint already at dest is kept: it is at least as recent as the mirrored one, since the
    mirror is uploaded from it. True when dest holds a checkpoint afterwards."""
    dest = Path(dest)
    if dest.is_file():
        return True
    return store.get_file(key, dest) or store.get_file(previous_key(key), dest)


@dataclass(frozen=True)
class ChildCache:
    """The store entries of one child: its result and its checkpoint."""

    store: Store
    space_name: str
    arch_id: str
    child_digest: str

    @property
    def result_key(self) -> str:
        return result_key(self.space_name, self.arch_id, self.child_digest)

    @property
    def checkpoint_key(self) -> str:
        return checkpoint_key(self.space_name, self.arch_id, self.child_digest)

    def result(self) -> ChildResult | None:
        return cached_result(self.store, self.result_key)

    def save_result(self, result: ChildResult) -> None:
        self.store.put_json(self.result_key, result.to_json())

    def restore(self, dest: Path) -> bool:
        return restore_checkpoint(self.store, self.checkpoint_key, dest)

    def mirror(self, *, log: Callable[[str], None] | None = None) -> Callable[[Path], None]:
        return mirror_checkpoint(self.store, self.checkpoint_key, log=log)
