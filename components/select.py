"""Pick the best architecture of the search."""

from kfp.dsl import Dataset, Input, Metrics, Output
from nao_kfp.components._base import component


@component
def select_best(
    config: str,
    pool: Input[Dataset],
    data: Input[Dataset],
    selection: Output[Dataset],
    metrics: Output[Metrics],
) -> None:
    """selection.json: the best architecture and its dev accuracy (the evaluator chooses:
    NAO-WS retrains its top few from scratch, which is why it reads data)."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import outcome
    from nao_kfp.config import config_from_json

    cfg = config_from_json(config)
    out = outcome.select_best(
        cfg, Path(pool.path), Path(selection.path), data_dir=Path(data.path), log=print
    )
    log_metrics(metrics, outcome.selection_metrics(cfg, out, Path(pool.path)))
