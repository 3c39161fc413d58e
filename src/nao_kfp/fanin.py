"""search.fan_in: store: a round's shard results go through the result store, not artifacts.

For KFP backends before 2.14, which cannot collect the artifacts of a ParallelFor: each
train-children task puts its results into the store, and merge fetches them from there.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp.config import Config
from nao_kfp.store import open_store

if TYPE_CHECKING:
    from nao_kfp.store import Store


def store_for(cfg: Config) -> Store:
    """The result store (cluster.*): shard results (fan_in: store), child caches, models."""

    return open_store(cfg.cluster, Path(tempfile.gettempdir()) / "nao-store")


def shard_key(pool_path: Path, round_index: int, shard: int, num_shards: int) -> str:
    """Where a shard's results wait for merge (fan_in: store): keyed by the round's input pool,
    which the shard and the merge task both read, so no run id has to be passed around."""
    digest = hashlib.sha256(Path(pool_path).read_bytes()).hexdigest()[:16]
    return f"shards/{digest}/round-{round_index}/{shard}-of-{num_shards}.jsonl"


def put_shard(
    cfg: Config, pool_path: Path, round_index: int, shard: int, num_shards: int, results: Path
) -> None:
    """One shard's results (train_children's output file) into the store, for merge."""
    store_for(cfg).put_file(shard_key(pool_path, round_index, shard, num_shards), results)


def fetch_shards(cfg: Config, round_index: int, pool_path: Path, work: Path) -> list[Path]:
    """The round's shard results from the store (fan_in: store); a missing shard is left out,
    so merge records its architectures as failed."""
    store, n = store_for(cfg), cfg.search.shards
    out = []
    for i in range(n):
        dest = Path(work) / f"shard-{i}.jsonl"
        if store.get_file(shard_key(pool_path, round_index, i, n), dest):
            out.append(dest)
    return out
