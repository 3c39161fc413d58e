"""Train the search's best architecture at full size and export it (final.enabled)."""

from kfp.dsl import Dataset, Input, Metrics, Model, Output
from nao_kfp.components._base import component


@component
def final_train(
    config: str,
    pool: Input[Dataset],
    selection: Input[Dataset],
    data: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
) -> None:
    """Re-rank the top final.rerank_top, train the winner with the final recipe (resuming per
    epoch from the store), export it: a self-describing checkpoint, a torch.export program and
    (final.aot_compile, where the image's g++ runs) its AOTInductor package."""
    from pathlib import Path

    from nao_kfp.components._base import log_metrics

    from nao_kfp import outcome
    from nao_kfp.config import config_from_json

    out = outcome.final(
        config_from_json(config),
        Path(pool.path),
        Path(selection.path),
        Path(data.path),
        Path(model.path),
    )
    keys = ("test_accuracy", "dev_accuracy", "params", "macs", "compile_seconds")
    log_metrics(metrics, {k: getattr(out, k) for k in keys}, "final/")
    # where KServe finds the model, and the InferenceService (in the artifact) that serves it
    model.metadata.update(arch=out.arch, arch_id=out.arch_id, storage_uri=out.storage_uri)
    model.metadata["inference_service"] = Path(out.inference_service).name
