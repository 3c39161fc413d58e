"""Round 1's architectures: a random sample of the search space."""

from kfp.dsl import Dataset, Model, Output
from nao_kfp.components._base import component


@component
def sample(
    config: str,
    compiled: str,
    pool: Output[Dataset],
    history: Output[Dataset],
    model: Output[Model],
) -> None:
    """search.initial_archs distinct random architectures (pending), an empty history, and an
    empty model (round 1's fit starts cold). Fails first if the run's config changed what the
    pipeline was compiled with."""
    from pathlib import Path

    from nao_kfp import steps
    from nao_kfp.compiled import check_compiled
    from nao_kfp.config import config_from_json

    cfg = config_from_json(config)
    check_compiled(cfg, compiled)
    steps.sample(cfg, Path(pool.path), Path(history.path))
    Path(model.path).mkdir(parents=True, exist_ok=True)
