"""final: the final training after the search, with its checks."""

from __future__ import annotations

from dataclasses import dataclass

from nao_kfp.config.bounds import (
    BATCH_WHY,
    DEPTH_WHY,
    EPOCHS_WHY,
    IMAGES_WHY,
    MAX_BATCH,
    MAX_DEPTH,
    MAX_EPOCHS,
    MAX_IMAGES,
    MAX_WIDTH,
    WIDTH_WHY,
    _lr_range,
)
from nao_kfp.config.evaluator import MAX_RERANK, RERANK_WHY
from nao_kfp.config.keys import key
from nao_kfp.errors import ConfigError


@dataclass(frozen=True)
class FinalConfig:
    """The final training after the search (paper §4.1): the best architecture, or the best of
    the top `rerank_top` after a short run of `rerank_epochs` each, trained at full size. The
    data set, dev split, device and momentum come from the child section; the rest is here."""

    enabled: bool = key(
        False, "Train the search's winner at full size after the search and export it."
    )
    rerank_top: int = key(
        1,
        "Re-rank the search's best this many by a short run each, then "
        "train the best of them; 1: train the search's best as it is.",
        min=1,
        max=MAX_RERANK,
        why=RERANK_WHY,
    )
    rerank_epochs: int = key(
        20,
        "Epochs of each re-ranking run (the final recipe otherwise).",
        min=1,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    layers: int = key(6, "N: cells per stage.", min=1, max=MAX_DEPTH, why=DEPTH_WHY)
    channels: int = key(36, "F: the first stage's channels.", min=1, max=MAX_WIDTH, why=WIDTH_WHY)
    epochs: int = key(600, "Training epochs.", min=1, max=MAX_EPOCHS, why=EPOCHS_WHY)
    batch_size: int = key(128, "Images per training batch.", min=1, max=MAX_BATCH, why=BATCH_WHY)
    lr_max: float = key(
        0.025, "The cosine schedule's first learning rate.", min=0.0, exclusive="min"
    )
    lr_min: float = key(0.0, "The cosine schedule's last learning rate.", min=0.0)
    weight_decay: float = key(3e-4, "Weight decay.", min=0.0)
    grad_clip: float = key(5.0, "Gradient norm clipping (0: none).", min=0.0)
    cutout: int = key(
        16, "Cutout length in pixels; 0 disables it.", min=0, max=4096, why="larger than any image"
    )
    aux_head: bool = key(True, "Train with an auxiliary classifier head.")
    aux_weight: float = key(0.4, "The auxiliary head's share of the loss.", min=0.0)
    drop_path: float = key(
        0.2,
        "Drop probability at the deepest cell at the end of training.",
        min=0.0,
        max=1.0,
        exclusive="max",
    )
    dropout: float = key(0.4, "Dropout before the classifier.", min=0.0, max=1.0, exclusive="max")
    train_subset: int = key(
        0,
        "Train on this many training images; 0: every training image left after the dev set.",
        min=0,
        max=MAX_IMAGES,
        why=IMAGES_WHY,
    )
    aot_compile: bool = key(
        True,
        "Also export model.aoti.pt2 (AOTInductor) where a C++ compiler runs: nao serve runs it "
        "several times faster than model.pt2; the compile takes a minute or more of CPU.",
    )


def check_final(f: FinalConfig) -> None:
    _lr_range("final", f.lr_min, f.lr_max)
    if f.rerank_top > 1 and f.rerank_epochs > f.epochs:
        raise ConfigError(
            f"final.rerank_epochs: {f.rerank_epochs} is more than final.epochs ({f.epochs}); "
            "re-ranking is meant to be the short run"
        )
