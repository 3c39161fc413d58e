"""Fan in the shard results of a round."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output
from nao_kfp.components._base import component


@component
def merge(
    config: str,
    round_index: int,
    pool: Input[Dataset],
    results: Input[list[Dataset]],
    history: Input[Dataset],
    model: Input[Model],
    merged_pool: Output[Dataset],
    merged_history: Output[Dataset],
    metrics: Output[Metrics],
) -> None:
    """The pool with this round's results in it; the round's record (with the metrics of
    `model`, the fit that proposed its architectures) appended to the history and logged as
    Metrics."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import steps
    from nao_kfp.config import config_from_json
    from nao_kfp.poolstats import metric_values

    cfg = config_from_json(config)
    record = steps.merge(
        cfg, round_index, Path(pool.path), [Path(r.path) for r in results],
        Path(history.path), Path(merged_pool.path), Path(merged_history.path),
        model=Path(model.path),
    )  # fmt: skip
    log_metrics(
        metrics,
        metric_values(record, cfg, Path(merged_pool.path)),
        f"round{round_index}/",
    )


@component
def merge_from_store(
    config: str,
    round_index: int,
    pool: Input[Dataset],
    history: Input[Dataset],
    model: Input[Model],
    merged_pool: Output[Dataset],
    merged_history: Output[Dataset],
    metrics: Output[Metrics],
) -> None:
    """The same, for search.fan_in: store: the shards' results are read from the result store
    (for KFP backends before 2.14, which cannot collect artifacts of a ParallelFor)."""
    import tempfile
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import steps
    from nao_kfp.config import config_from_json
    from nao_kfp.fanin import fetch_shards
    from nao_kfp.poolstats import metric_values

    cfg = config_from_json(config)
    with tempfile.TemporaryDirectory(prefix="nao-merge-") as tmp:
        shards = fetch_shards(cfg, round_index, Path(pool.path), Path(tmp))
        record = steps.merge(
            cfg, round_index, Path(pool.path), shards, Path(history.path),
            Path(merged_pool.path), Path(merged_history.path), model=Path(model.path),
        )  # fmt: skip
    log_metrics(
        metrics,
        metric_values(record, cfg, Path(merged_pool.path)),
        f"round{round_index}/",
    )
