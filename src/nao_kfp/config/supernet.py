"""supernet: weight sharing (NAO-WS), with its checks."""

from __future__ import annotations

from dataclasses import dataclass

from nao_kfp.config.bounds import (
    BATCH_WHY,
    DEPTH_WHY,
    EPOCHS_WHY,
    MAX_BATCH,
    MAX_DEPTH,
    MAX_EPOCHS,
    MAX_WIDTH,
    WIDTH_WHY,
    _lr_range,
)
from nao_kfp.config.evaluator import MAX_RERANK, RERANK_WHY
from nao_kfp.config.keys import key
from nao_kfp.errors import ConfigError

SUPERNET_BN = ("train", "recalibrate", "running")
MAX_BATCHES = 100_000
BATCHES_WHY = "each scored architecture goes through every batch"


@dataclass(frozen=True)
class SupernetConfig:
    """Weight sharing (NAO-WS): one supernet trained on the current pool, scoring architectures
    by their accuracy on fixed dev batches with the shared weights (nao_kfp.child.supernet).
    The data, device, amp and cpu_threads come from the child section."""

    layers: int = key(3, "N: cells per stage of the supernet.", min=1, max=MAX_DEPTH, why=DEPTH_WHY)
    channels: int = key(
        20, "F (C for nb201; the model width for enas-rnn).", min=1, max=MAX_WIDTH, why=WIDTH_WHY
    )
    batch_size: int = key(64, "Training batch size.", min=1, max=MAX_BATCH, why=BATCH_WHY)
    epochs: int = key(
        150,
        "The whole schedule; the cosine learning rate spans it.",
        min=1,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    rounds_every: int = key(
        30,
        "Epochs of supernet training between two controller rounds.",
        min=1,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    lr_max: float = key(
        0.025, "The cosine schedule's first learning rate.", min=0.0, exclusive="min"
    )
    lr_min: float = key(0.001, "The cosine schedule's last learning rate.", min=0.0)
    momentum: float = key(0.9, "SGD momentum.", min=0.0, max=1.0, exclusive="max")
    weight_decay: float = key(3e-4, "Weight decay.", min=0.0)
    grad_clip: float = key(5.0, "Gradient norm clipping (0: none).", min=0.0)
    drop_path: float = key(
        0.1,
        "Drop probability at the deepest cell at the end of the schedule.",
        min=0.0,
        max=1.0,
        exclusive="max",
    )
    eval_batch_size: int = key(
        500, "Images (or text streams) per scoring batch.", min=1, max=MAX_BATCH, why=BATCH_WHY
    )
    dev_batches: int = key(
        1,
        "An architecture's score: its accuracy on this many fixed dev batches.",
        min=1,
        max=MAX_BATCHES,
        why=BATCHES_WHY,
    )
    bn: str = key(
        "train",
        "BatchNorm statistics when scoring: train (each dev batch's own "
        "statistics, the official NAO-WS code; ranked best on enas), running (the "
        "statistics accumulated while training the supernet; ranked best on nb201) "
        "or recalibrate (re-estimated per architecture on supernet.bn_batches "
        "training batches).",
        choices=SUPERNET_BN,
    )
    bn_batches: int = key(
        4,
        "bn recalibrate: training batches per architecture.",
        min=0,
        max=MAX_BATCHES,
        why=BATCHES_WHY,
    )
    rerank_top: int = key(
        5,
        "Final selection: retrain this many best-scored architectures from "
        "scratch (the child section, supernet.rerank_epochs epochs) and keep "
        "the best.",
        min=0,
        max=MAX_RERANK,
        why=RERANK_WHY,
    )
    rerank_epochs: int = key(
        10,
        "Epochs of each retraining for the final selection.",
        min=1,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )

    def schedule(self) -> list[int]:
        """The supernet epoch at which each round scores the pool: every rounds_every epochs
        and at the end (the official NAO-WS: 30, 60, 90, 120, 150), one round each."""
        points = list(range(self.rounds_every, self.epochs + 1, self.rounds_every))
        return points if points and points[-1] == self.epochs else [*points, self.epochs]


def check_supernet(sn: SupernetConfig) -> None:
    if sn.rounds_every > sn.epochs:
        raise ConfigError(
            f"supernet.rounds_every: {sn.rounds_every} is more than supernet.epochs {sn.epochs}"
        )
    _lr_range("supernet", sn.lr_min, sn.lr_max)
    if sn.bn == "recalibrate" and sn.bn_batches == 0:
        raise ConfigError("supernet.bn_batches: recalibrate needs at least one training batch")
