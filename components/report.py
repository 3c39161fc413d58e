"""The search's last task: result.json and the report, after the final training."""

from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Model, Output
from nao_kfp.components._base import component


@component
def report(
    config: str,
    selection: Input[Dataset],
    history: Input[Dataset],
    pool: Input[Dataset],
    result: Output[Dataset],
    markdown: Output[Markdown],
    html: Output[HTML],
    files: Output[Artifact],
    model: Input[Model] = None,  # type: ignore[assignment]
) -> None:
    """result.json (written here only: the selection, the rounds, the final training of
    `model` when final.enabled, the pool's statistics), then the report rendered from it once:
    accuracy by round (predicted vs real, Fig. 2b) and the best cells, as Markdown with its
    images inline, as one HTML page, and as report.md with its images beside it (`files`)."""
    import shutil
    from pathlib import Path

    from nao_kfp import outcome
    from nao_kfp.config import config_from_json

    cfg = config_from_json(config)
    done = outcome.conclude(
        cfg, Path(selection.path), Path(history.path), Path(pool.path), Path(result.path),
        final_dir=Path(model.path) if model is not None else None,
    )  # fmt: skip
    paths = outcome.report(
        cfg, done, Path(pool.path), Path(files.path), inline_markdown=Path(markdown.path)
    )
    shutil.copyfile(paths["html"], html.path)
