"""Stage the data set once for every child of the search."""

from kfp.dsl import Dataset, Output
from nao_kfp.components._base import component


@component
def prepare_data(config: str, data: Output[Dataset]) -> None:
    """Download or copy the data set into `data` (a directory) for the children to read."""
    from pathlib import Path

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    steps.prepare_data(config_from_json(config), Path(data.path))
