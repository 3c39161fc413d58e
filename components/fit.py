"""Train the NAO controller on the pool: cold in round 1, warm-started afterwards."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output
from nao_kfp.components._base import component


@component
def fit(
    config: str,
    round_index: int,
    pool: Input[Dataset],
    init_model: Input[Model],
    model: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """Encoder, predictor and decoder trained on the evaluated architectures, warm-started from
    `init_model` unless it is empty."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics, skip_exit_gc

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    skip_exit_gc()
    out = steps.fit(
        config_from_json(config), round_index, Path(pool.path), Path(model.path),
        init_model=Path(init_model.path),
    )  # fmt: skip
    log_metrics(metrics, out, f"round{round_index}/fit/")
