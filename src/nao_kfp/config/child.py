"""child (and child.rnn): how a child network is built and trained, with the checks."""

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
from nao_kfp.config.keys import key
from nao_kfp.errors import ConfigError

# the data sets, and what each is (a space's child network reads one kind: SearchSpace.data)
DATASETS = {"digits": "image", "cifar10": "image", "cifar100": "image",
            "image-folder": "image", "ptb": "text"}  # fmt: skip
# Training-set sizes of the built-in image data sets, to check dev_size + train_subset early.
# digits: 1797 images, of which nao_kfp.child.data holds out a fixed 297 as the test set
TRAIN_IMAGES = {"digits": 1500, "cifar10": 50000, "cifar100": 50000}
DEVICES = ("auto", "cpu", "cuda")
MAX_THREADS = 1024
THREADS_WHY = "more threads than any machine has cores"


@dataclass(frozen=True)
class RnnChildConfig:
    """Language-model settings for the enas-rnn space (the paper's PTB recipe)."""

    embedding_size: int = key(850, "Word embedding size.", min=1, max=MAX_WIDTH, why=WIDTH_WHY)
    hidden_size: int = key(
        850, "The recurrent cell's state size.", min=1, max=MAX_WIDTH, why=WIDTH_WHY
    )
    bptt: int = key(
        35,
        "Tokens of truncated backpropagation through time.",
        min=1,
        max=100_000,
        why="each is a step the cell is unrolled and kept for the backward pass",
    )
    eval_batch_size: int = key(
        10, "Parallel text streams when evaluating.", min=1, max=MAX_BATCH, why=BATCH_WHY
    )
    dropout: float = key(0.75, "Output (variational) dropout.", min=0.0, max=1.0, exclusive="max")
    dropout_h: float = key(0.25, "Recurrent dropout.", min=0.0, max=1.0, exclusive="max")
    dropout_x: float = key(0.75, "Cell input dropout.", min=0.0, max=1.0, exclusive="max")
    dropout_i: float = key(0.2, "Embedding output dropout.", min=0.0, max=1.0, exclusive="max")
    dropout_e: float = key(0.1, "Embedding (word) dropout.", min=0.0, max=1.0, exclusive="max")
    lr_decay: float = key(
        0.96,
        "Multiplicative per-epoch learning rate decay after child.rnn.lr_decay_start.",
        min=0.0,
        max=1.0,
        exclusive="min",
    )
    lr_decay_start: int = key(
        15, "The epoch the learning rate decay starts at.", min=0, max=MAX_EPOCHS, why=EPOCHS_WHY
    )
    max_vocab: int = key(
        0,
        "Keep the most frequent words, the rest become <unk>; 0: every word of the corpus.",
        min=0,
        max=10_000_000,
        why="the decoder holds a row per word",
    )


@dataclass(frozen=True)
class ChildConfig:
    """How a child network is built and trained (paper §4, appendix 7.1)."""

    dataset: str = key(
        "digits",
        "The data set: digits (bundled with scikit-learn), cifar10, "
        "cifar100, image-folder (train/<class>/ and test/<class>/ images) or "
        "ptb (Penn Treebank text, for enas-rnn).",
        choices=tuple(DATASETS),
    )
    data_dir: str = key(
        "",
        "The folder holding the data set (required for image-folder and "
        "ptb; cifar10 and cifar100 as torchvision writes them).",
    )
    dev_size: int = key(
        500,
        "Images carved from the training set; their accuracy is what the "
        "search sees. Sized for the default data set (digits has 1797 images); "
        "the cifar10 preset uses the paper's 5000.",
        min=1,
        max=MAX_IMAGES,
        why=IMAGES_WHY,
    )
    train_subset: int = key(
        0,
        "Train on this many of the remaining training images (tokens for ptb); 0: all of them.",
        min=0,
        max=MAX_IMAGES,
        why=IMAGES_WHY,
    )
    layers: int = key(6, "N: cells per stage.", min=1, max=MAX_DEPTH, why=DEPTH_WHY)
    channels: int = key(36, "F: the first stage's channels.", min=1, max=MAX_WIDTH, why=WIDTH_WHY)
    epochs: int = key(20, "Training epochs of each child.", min=1, max=MAX_EPOCHS, why=EPOCHS_WHY)
    batch_size: int = key(128, "Images per training batch.", min=1, max=MAX_BATCH, why=BATCH_WHY)
    lr_max: float = key(
        0.024, "The cosine schedule's first learning rate.", min=0.0, exclusive="min"
    )
    lr_min: float = key(0.0, "The cosine schedule's last learning rate.", min=0.0)
    momentum: float = key(0.9, "SGD momentum.", min=0.0, max=1.0, exclusive="max")
    weight_decay: float = key(5e-4, "Weight decay.", min=0.0)
    grad_clip: float = key(5.0, "Gradient norm clipping (0: none).", min=0.0)
    drop_path: float = key(
        0.0,
        "Drop probability at the deepest cell at the end of training.",
        min=0.0,
        max=1.0,
        exclusive="max",
    )
    aux_head: bool = key(False, "Train with an auxiliary classifier head.")
    aux_weight: float = key(0.4, "The auxiliary head's share of the loss.", min=0.0)
    cutout: int = key(
        0, "Cutout length in pixels; 0 disables it.", min=0, max=4096, why="larger than any image"
    )
    num_workers: int = key(
        0, "Data loader worker processes.", min=0, max=MAX_THREADS, why="each is a process"
    )
    cpu_threads: int = key(
        0,
        "CPU threads for torch while a child trains; 0 keeps torch's "
        "default (all visible cores). Small children on shared or "
        "oversubscribed CPUs run many times faster with 1.",
        min=0,
        max=MAX_THREADS,
        why=THREADS_WHY,
    )
    device: str = key(
        "auto", "Where children train: auto (CUDA when there is one), cpu or cuda.", choices=DEVICES
    )
    amp: bool = key(True, "bf16 autocast and channels_last on CUDA.")
    download: bool = key(
        False, "Let torchvision download CIFAR when child.data_dir lacks it (clusters only)."
    )
    dropout: float = key(0.0, "Dropout before the classifier.", min=0.0, max=1.0, exclusive="max")
    retries: int = key(
        1,
        "A child that raises (out of memory, a diverged loss, a crash) is "
        "trained again this many times, from its last checkpoint, before it is "
        "recorded as failed.",
        min=0,
        max=100,
        why="each retry trains the child again",
    )
    rnn: RnnChildConfig = key(doc="Language-model settings (enas-rnn).", factory=RnnChildConfig)


def check_child(ch: ChildConfig) -> None:
    """The data set and the training split."""
    if ch.dataset in ("image-folder", "ptb") and not ch.data_dir:
        raise ConfigError(f"child.data_dir: required for child.dataset {ch.dataset!r}")
    total = TRAIN_IMAGES.get(ch.dataset)
    if total is not None and ch.dev_size + max(ch.train_subset, 1) > total:
        raise ConfigError(
            f"child.dev_size: {ch.dev_size} dev + {ch.train_subset} train images do not fit in "
            f"{ch.dataset}'s {total} training images"
        )
    _lr_range("child", ch.lr_min, ch.lr_max)
