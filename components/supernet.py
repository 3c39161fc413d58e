"""NAO-WS: one round's evaluation, as one task that trains the supernet and scores the pool."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output
from nao_kfp.components._base import component


@component
def supernet_round(
    config: str,
    round_index: int,
    pool: Input[Dataset],
    history: Input[Dataset],
    supernet: Input[Model],
    model: Input[Model],
    data: Input[Dataset],
    scored_pool: Output[Dataset],
    new_history: Output[Dataset],
    new_supernet: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """Train the shared weights to this round's epoch on the pool (resuming from `supernet`,
    or from the store's mirror after a preemption), then score every architecture with them;
    the round's record has `model`'s fit, the one that proposed the round's architectures."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import steps
    from nao_kfp.config import config_from_json
    from nao_kfp.poolstats import metric_values

    cfg = config_from_json(config)
    record = steps.supernet_round(
        cfg, round_index, Path(pool.path), Path(history.path),
        Path(supernet.path), Path(data.path), Path(scored_pool.path), Path(new_history.path),
        Path(new_supernet.path), model=Path(model.path), log=print,
    )  # fmt: skip
    log_metrics(
        metrics,
        metric_values(record, cfg, Path(scored_pool.path)),
        f"round{round_index}/",
    )
    log_metrics(metrics, record.supernet, f"round{round_index}/supernet/")
