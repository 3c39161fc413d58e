"""The search report for the Kubeflow UI."""

from kfp.dsl import HTML, Dataset, Input, Markdown, Output
from nao_kfp.components._base import component


@component
def report(
    config: str,
    result: Input[Dataset],
    pool: Input[Dataset],
    markdown: Output[Markdown],
    html: Output[HTML],
) -> None:
    """Accuracy by round (predicted vs real, Fig. 2b) and the best cells, as Markdown and HTML."""
    import shutil
    import tempfile
    from pathlib import Path

    from nao_kfp import steps
    from nao_kfp.config import config_from_json

    with tempfile.TemporaryDirectory() as tmp:
        paths = steps.report(
            config_from_json(config), Path(result.path), Path(pool.path), Path(tmp), inline=True
        )
        shutil.copyfile(paths["markdown"], markdown.path)
        shutil.copyfile(paths["html"], html.path)
