"""Where finished child results and child checkpoints live: a local directory or S3 (minio client).

Keys are relative, '/'-separated paths such as ``results/enas/<digest>/<arch_id>.json``. An
object is stored as its plain bytes (a checkpoint is a torch file that `torch.load` opens), with
its SHA-256 beside it: S3 user metadata, or a `<name>.sha256` sidecar in a local store. Reads
check it, and both backends write atomically (a reader sees the old object or the new one, never
half of one), so a child killed mid-upload leaves the previous checkpoint usable.

The result cache is keyed by (space, canonical arch id, child-config digest): a re-run of the
pipeline, or a later round proposing a known architecture, finds the finished result instead of
retraining. A child mirrors its checkpoint after every epoch (`mirror_checkpoint`), and a retried
pod fetches it back (`restore_checkpoint`) before it resumes.

Credentials are held only by the minio client: they never appear in a repr, a log line or an
error message.
"""

from nao_kfp.store.base import (
    CorruptObject,
    Store,
    StoreError,
    check_key,
    checkpoint_key,
    result_key,
)
from nao_kfp.store.cache import (
    ACCESS_KEY_ENV,
    SECRET_KEY_ENV,
    ChildCache,
    cached_result,
    mirror_checkpoint,
    open_store,
    restore_checkpoint,
)
from nao_kfp.store.local import LocalStore
from nao_kfp.store.s3 import S3Store

__all__ = [
    "ACCESS_KEY_ENV",
    "SECRET_KEY_ENV",
    "ChildCache",
    "CorruptObject",
    "LocalStore",
    "S3Store",
    "Store",
    "StoreError",
    "cached_result",
    "check_key",
    "checkpoint_key",
    "mirror_checkpoint",
    "open_store",
    "restore_checkpoint",
    "result_key",
]
