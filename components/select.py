"""Pick the best architecture of the search."""

from kfp.dsl import Dataset, Input, Metrics, Output
from nao_kfp.components._base import component


@component
def select_best(
    config: str,
    pool: Input[Dataset],
    history: Input[Dataset],
    data: Input[Dataset],
    result: Output[Dataset],
    metrics: Output[Metrics],
) -> None:
    """result.json: the best architecture, its dev accuracy and the per-round records (the
    evaluator chooses: NAO-WS retrains its top few from scratch, which is why it reads data)."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    out = steps.select_best(
        config_from_json(config), Path(pool.path), Path(history.path), Path(result.path),
        data_dir=Path(data.path), log=print,
    )  # fmt: skip
    log_metrics(metrics, steps.result_metrics(out))
