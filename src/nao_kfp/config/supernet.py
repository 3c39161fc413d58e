"""supernet: weight sharing (NAO-WS), with its checks."""

from __future__ import annotations

from dataclasses import dataclass

from nao_kfp.config.bounds import _lr_range, _positive, _probability
from nao_kfp.errors import ConfigError

SUPERNET_BN = ("train", "recalibrate", "running")


@dataclass(frozen=True)
class SupernetConfig:
    """Weight sharing (NAO-WS): one supernet trained on the current pool, scoring architectures
    by their accuracy on fixed dev batches with the shared weights (nao_kfp.child.supernet).
    The data, device, amp and cpu_threads come from the child section."""

    layers: int = 3  # N cells per stage of the supernet
    channels: int = 20  # F (C for nb201)
    batch_size: int = 64
    epochs: int = 150  # the whole schedule; the cosine lr spans it
    rounds_every: int = 30  # epochs of supernet training between two controller rounds
    lr_max: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    drop_path: float = 0.1  # drop probability at the deepest cell at the end of the schedule
    eval_batch_size: int = 500
    dev_batches: int = 1  # an architecture's score: its accuracy on this many fixed dev batches
    # BatchNorm statistics when scoring: train (each dev batch's own statistics, the official
    # NAO-WS code; ranked best on enas), running (the statistics accumulated while training the
    # supernet; ranked best on nb201) or recalibrate (re-estimated per architecture on
    # bn_batches training batches); the measurements are in child/supernet_train.py.
    bn: str = "train"
    bn_batches: int = 4
    rerank_top: int = 5  # final selection: retrain this many best-scored architectures from
    rerank_epochs: int = 10  # scratch (child section, these many epochs) and keep the best

    def schedule(self) -> list[int]:
        """The supernet epoch at which each round scores the pool: every rounds_every epochs
        and at the end (the official NAO-WS: 30, 60, 90, 120, 150), one round each."""
        points = list(range(self.rounds_every, self.epochs + 1, self.rounds_every))
        return points if points and points[-1] == self.epochs else [*points, self.epochs]


def check_supernet(sn: SupernetConfig) -> None:
    for key in ("layers", "channels", "batch_size", "epochs", "rounds_every", "eval_batch_size"):
        _positive(f"supernet.{key}", getattr(sn, key))
    for key in ("dev_batches", "rerank_epochs"):
        _positive(f"supernet.{key}", getattr(sn, key))
    for key in ("weight_decay", "grad_clip", "rerank_top", "bn_batches"):
        _positive(f"supernet.{key}", getattr(sn, key), zero_ok=True)
    if sn.rounds_every > sn.epochs:
        raise ConfigError(
            f"supernet.rounds_every: {sn.rounds_every} is more than supernet.epochs {sn.epochs}"
        )
    _lr_range("supernet", sn.lr_min, sn.lr_max)
    if not 0.0 <= sn.momentum < 1.0:
        raise ConfigError(f"supernet.momentum: expected a value in [0, 1), got {sn.momentum}")
    _probability("supernet.drop_path", sn.drop_path)
    if sn.bn not in SUPERNET_BN:
        raise ConfigError(f"supernet.bn: expected one of {', '.join(SUPERNET_BN)}, got {sn.bn!r}")
    if sn.bn == "recalibrate" and sn.bn_batches == 0:
        raise ConfigError("supernet.bn_batches: recalibrate needs at least one training batch")
