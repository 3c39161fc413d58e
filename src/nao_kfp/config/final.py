"""final: the final training after the search, with its checks."""

from __future__ import annotations

from dataclasses import dataclass

from nao_kfp.config.bounds import _lr_range, _positive, _probability
from nao_kfp.errors import ConfigError


@dataclass(frozen=True)
class FinalConfig:
    """The final training after the search (paper §4.1): the best architecture, or the best of
    the top `rerank_top` after a short run of `rerank_epochs` each, trained at full size. The
    data set, dev split, device and momentum come from the child section; the rest is here."""

    enabled: bool = False
    rerank_top: int = 1  # 1: train the search's best as is
    rerank_epochs: int = 20  # each of the top few, with this recipe but this many epochs
    layers: int = 6  # N
    channels: int = 36  # F
    epochs: int = 600
    batch_size: int = 128
    lr_max: float = 0.025
    lr_min: float = 0.0
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    cutout: int = 16
    aux_head: bool = True
    aux_weight: float = 0.4
    drop_path: float = 0.2
    dropout: float = 0.4  # before the classifier
    train_subset: int = 0  # 0: every training image left after the dev set
    # also export model.aoti.pt2 (AOTInductor, where a C++ compiler is found): `nao serve` runs
    # it several times faster than model.pt2; the compile takes a minute or more of CPU
    aot_compile: bool = True


def check_final(f: FinalConfig) -> None:
    for key in ("rerank_top", "rerank_epochs", "layers", "channels", "epochs", "batch_size"):
        _positive(f"final.{key}", getattr(f, key))
    for key in ("weight_decay", "grad_clip", "aux_weight", "cutout", "train_subset"):
        _positive(f"final.{key}", getattr(f, key), zero_ok=True)
    _lr_range("final", f.lr_min, f.lr_max)
    _probability("final.drop_path", f.drop_path)
    _probability("final.dropout", f.dropout)
    if f.rerank_top > 1 and f.rerank_epochs > f.epochs:
        raise ConfigError(
            f"final.rerank_epochs: {f.rerank_epochs} is more than final.epochs ({f.epochs}); "
            "re-ranking is meant to be the short run"
        )
