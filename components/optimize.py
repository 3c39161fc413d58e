"""Move the top-K embeddings uphill on the performance predictor."""

from kfp.dsl import Artifact, Dataset, Input, Model, Output
from nao_kfp.components._base import component


@component
def optimize(
    config: str, model: Input[Model], pool: Input[Dataset], embeddings: Output[Artifact]
) -> None:
    """Embeddings of the search.top_k best architectures, ready to be stepped and decoded."""
    from pathlib import Path

    from nao_kfp.components._base import skip_exit_gc

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    skip_exit_gc()
    steps.optimize(
        config_from_json(config), Path(model.path), Path(pool.path), Path(embeddings.path)
    )
