"""child (and child.rnn): how a child network is built and trained, with the checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from nao_kfp.config.bounds import _lr_range, _positive, _probability
from nao_kfp.errors import ConfigError

DATASETS = ("digits", "cifar10", "cifar100", "image-folder", "ptb")
# Training-set sizes of the built-in image data sets, to check dev_size + train_subset early.
# digits: 1797 images, of which nao_kfp.child.data holds out a fixed 297 as the test set
TRAIN_IMAGES = {"digits": 1500, "cifar10": 50000, "cifar100": 50000}


@dataclass(frozen=True)
class RnnChildConfig:
    """Language-model settings for the enas-rnn space (the paper's PTB recipe)."""

    embedding_size: int = 850
    hidden_size: int = 850
    bptt: int = 35
    eval_batch_size: int = 10
    dropout: float = 0.75  # output (variational) dropout
    dropout_h: float = 0.25  # recurrent dropout
    dropout_x: float = 0.75  # cell input dropout
    dropout_i: float = 0.2  # embedding output dropout
    dropout_e: float = 0.1  # embedding (word) dropout
    lr_decay: float = 0.96  # multiplicative per-epoch decay after lr_decay_start
    lr_decay_start: int = 15
    max_vocab: int = 0  # 0: keep every word of the corpus


@dataclass(frozen=True)
class ChildConfig:
    """How a child network is built and trained (paper §4, appendix 7.1)."""

    dataset: str = "digits"  # digits | cifar10 | cifar100 | image-folder | ptb
    data_dir: str = ""
    # Images carved from the training set; their accuracy is what the search sees. Sized for the
    # default data set (digits has 1797 images); the cifar10 preset uses the paper's 5000.
    dev_size: int = 500
    train_subset: int = 0  # 0: all remaining training images
    layers: int = 6  # N cells per stage
    channels: int = 36  # F
    epochs: int = 20
    batch_size: int = 128
    lr_max: float = 0.024
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    drop_path: float = 0.0  # drop probability at the deepest cell at the end of training
    aux_head: bool = False
    aux_weight: float = 0.4
    cutout: int = 0  # cutout length in pixels; 0 disables
    num_workers: int = 0
    # CPU threads for torch while a child trains; 0 keeps torch's default (all visible cores).
    # Small children on shared or oversubscribed CPUs run many times faster with 1.
    cpu_threads: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast + channels_last on CUDA
    download: bool = False  # let torchvision download CIFAR when data_dir lacks it (clusters only)
    dropout: float = 0.0  # before the classifier
    # A child that raises (out of memory, a diverged loss, a crash) is trained again this many
    # times, from its last checkpoint, before it is recorded as failed.
    retries: int = 1
    rnn: RnnChildConfig = field(default_factory=RnnChildConfig)


def check_child_dataset(ch: ChildConfig) -> None:
    if ch.dataset not in DATASETS:
        raise ConfigError(
            f"child.dataset: unknown data set {ch.dataset!r} (expected one of: {', '.join(DATASETS)})"
        )


def check_child(ch: ChildConfig) -> None:
    """Everything but the data set's name (after check_child_dataset)."""
    if ch.dataset in ("image-folder", "ptb") and not ch.data_dir:
        raise ConfigError(f"child.data_dir: required for child.dataset {ch.dataset!r}")
    for key in ("layers", "channels", "epochs", "batch_size"):
        _positive(f"child.{key}", getattr(ch, key))
    _positive("child.dev_size", ch.dev_size)
    _positive("child.train_subset", ch.train_subset, zero_ok=True)
    total = TRAIN_IMAGES.get(ch.dataset)
    if total is not None and ch.dev_size + max(ch.train_subset, 1) > total:
        raise ConfigError(
            f"child.dev_size: {ch.dev_size} dev + {ch.train_subset} train images do not fit in "
            f"{ch.dataset}'s {total} training images"
        )
    for key in ("weight_decay", "grad_clip", "aux_weight"):
        _positive(f"child.{key}", getattr(ch, key), zero_ok=True)
    if not 0.0 <= ch.momentum < 1.0:
        raise ConfigError(f"child.momentum: expected a value in [0, 1), got {ch.momentum}")
    _lr_range("child", ch.lr_min, ch.lr_max)
    _probability("child.drop_path", ch.drop_path)
    if ch.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"child.device: expected auto, cpu or cuda, got {ch.device!r}")
    _positive("child.cutout", ch.cutout, zero_ok=True)
    _positive("child.retries", ch.retries, zero_ok=True)
    _positive("child.cpu_threads", ch.cpu_threads, zero_ok=True)
