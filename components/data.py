"""Stage the data set once for every child of the search."""

from kfp.dsl import Dataset, Output
from nao_kfp.components._base import component


@component
def prepare_data(config: str, compiled: str, data: Output[Dataset]) -> None:
    """Copy (or, where allowed, download) the data set into `data` for the children to read.
    First of all, check that the run's config keeps what the pipeline was compiled with."""
    from pathlib import Path

    from nao_kfp import steps
    from nao_kfp.compiled import check_compiled
    from nao_kfp.config import config_from_json

    cfg = config_from_json(config)
    check_compiled(cfg, compiled)
    steps.prepare_data(cfg, Path(data.path))
