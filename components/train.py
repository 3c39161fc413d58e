"""Evaluate one shard of the round's pending architectures."""

from kfp.dsl import Dataset, Input, Output
from nao_kfp.components._base import component


@component
def train_children(
    config: str,
    round_index: int,
    shard: int,
    num_shards: int,
    pool: Input[Dataset],
    data: Input[Dataset],
    results: Output[Dataset],
) -> None:
    """Train and evaluate the pending architectures of shard `shard` of `num_shards`; finished
    children come from the store's result cache, interrupted ones resume from its checkpoint."""
    from pathlib import Path

    from nao_kfp.components._base import skip_exit_gc

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    skip_exit_gc()
    steps.train_children(
        config_from_json(config), Path(pool.path), shard, num_shards, Path(data.path),
        Path(results.path), round_index=round_index,
    )  # fmt: skip
