"""Decode the optimized embeddings into the next round's architectures."""

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output
from nao_kfp.components._base import component


@component
def decode(
    config: str,
    round_index: int,
    model: Input[Model],
    embeddings: Input[Artifact],
    pool: Input[Dataset],
    history: Input[Dataset],
    new_pool: Output[Dataset],
    metrics: Output[Metrics],
) -> None:
    """The pool plus up to search.new_archs new pending architectures for round r + 1 (the
    history says whether the search stops early; it is read, not written)."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics, skip_exit_gc

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    skip_exit_gc()
    out = steps.decode(
        config_from_json(config), round_index, Path(model.path), Path(embeddings.path),
        Path(pool.path), Path(history.path), Path(new_pool.path),
    )  # fmt: skip
    log_metrics(metrics, {"new_archs": out["new_archs"]}, f"round{round_index}/")
