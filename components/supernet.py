"""NAO-WS: one round of supernet training and scoring, and the final re-ranking."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output
from nao_kfp.components._base import component


@component
def supernet_round(
    config: str,
    round_index: int,
    pool: Input[Dataset],
    history: Input[Dataset],
    supernet: Input[Model],
    data: Input[Dataset],
    scored_pool: Output[Dataset],
    new_history: Output[Dataset],
    new_supernet: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """Train the shared weights to this round's epoch on the pool (resuming from `supernet`,
    or from the store's mirror after a preemption), then score every architecture with them."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import ws
    from nao_kfp.config import config_from_json

    record = ws.supernet_round(
        config_from_json(config), round_index, Path(pool.path), Path(history.path),
        Path(supernet.path), Path(data.path), Path(scored_pool.path), Path(new_history.path),
        Path(new_supernet.path), log=print,
    )  # fmt: skip
    log_metrics(metrics, record, f"round{round_index}/")
    log_metrics(metrics, record.get("supernet", {}), f"round{round_index}/supernet/")


@component
def rerank_select(
    config: str,
    pool: Input[Dataset],
    history: Input[Dataset],
    data: Input[Dataset],
    result: Output[Dataset],
    metrics: Output[Metrics],
) -> None:
    """result.json, its best chosen among the supernet's top few retrained from scratch."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import ws
    from nao_kfp.config import config_from_json

    out = ws.rerank_select(
        config_from_json(config), Path(pool.path), Path(history.path), Path(data.path),
        Path(result.path),
    )  # fmt: skip
    log_metrics(
        metrics, {"evaluated": out["evaluated"], "best_dev_accuracy": out["best"]["dev_accuracy"]}
    )
