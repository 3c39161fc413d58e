"""Round 1's architectures: a random sample of the search space."""

from kfp.dsl import Dataset, Output
from nao_kfp.components._base import component


@component
def sample(config: str, pool: Output[Dataset], history: Output[Dataset]) -> None:
    """search.initial_archs distinct random architectures (pending), and an empty history."""
    from pathlib import Path

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    steps.sample(config_from_json(config), Path(pool.path), Path(history.path))
