"""Priors (search.prior): pools of earlier searches, imported as artifacts, checked, gathered."""

from kfp.dsl import Dataset, Input, Model, Output
from nao_kfp.components._base import component


@component
def gather_prior(
    config: str,
    index: int,
    prior: Input[Dataset],
    gathered: Output[Dataset],
    earlier: Input[Dataset] = None,  # type: ignore[assignment]
) -> None:
    """The earlier priors' folder plus this one (an imported pool file; an s3:// URI the
    backend did not download is read through the store), checked: same space, evaluated."""
    from pathlib import Path

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    steps.gather_prior(
        config_from_json(config), index, prior.uri, Path(prior.path), Path(gathered.path),
        earlier=Path(earlier.path) if earlier is not None else None,
    )  # fmt: skip


@component
def sample_prior(
    config: str,
    compiled: str,
    priors: Input[Dataset],
    pool: Output[Dataset],
    history: Output[Dataset],
    model: Output[Model],
) -> None:
    """Round 1's pool (search.prior_seed of it the priors' best) and an init model that
    carries the prior set, so every fit trains on it. Fails first if the run's config changed
    what the pipeline was compiled with."""
    from pathlib import Path

    from nao_kfp import steps
    from nao_kfp.compiled import check_compiled
    from nao_kfp.config import config_from_json

    cfg = config_from_json(config)
    check_compiled(cfg, compiled)
    steps.sample_with_prior(
        cfg, Path(pool.path), Path(history.path), Path(model.path), gathered=Path(priors.path)
    )
