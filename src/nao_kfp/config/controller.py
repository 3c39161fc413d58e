"""controller: the NAO encoder / predictor / decoder and its training, with their checks."""

from __future__ import annotations

from dataclasses import dataclass

from nao_kfp.config.bounds import (
    DEPTH_WHY,
    EPOCHS_WHY,
    MAX_BATCH,
    MAX_DEPTH,
    MAX_EPOCHS,
    MAX_WIDTH,
    WIDTH_WHY,
)
from nao_kfp.config.keys import key
from nao_kfp.errors import ConfigError

RANK_LOSSES = ("none", "hinge", "listwise")
# Pseudo-labeled architectures are sampled, encoded and held in memory per fit.
MAX_PSEUDO = 1_000_000
PSEUDO_WHY = "each is an architecture sampled and held in memory"
MAX_THREADS = 1024
THREADS_WHY = "more threads than any machine has cores"


@dataclass(frozen=True)
class ControllerConfig:
    """The NAO encoder / predictor / decoder and its joint training (Eq. 1)."""

    embedding_size: int = key(
        32,
        "Size of a token's embedding in the encoder and decoder.",
        min=1,
        max=MAX_WIDTH,
        why=WIDTH_WHY,
    )
    hidden_size: int = key(
        96,
        "Size of the encoder's and decoder's LSTM state: an architecture's embedding.",
        min=1,
        max=MAX_WIDTH,
        why=WIDTH_WHY,
    )
    mlp_layers: int = key(1, "Layers of the predictor's MLP.", min=1, max=MAX_DEPTH, why=DEPTH_WHY)
    mlp_hidden: int = key(
        200, "Width of the predictor's MLP layers.", min=1, max=MAX_WIDTH, why=WIDTH_WHY
    )
    dropout: float = key(
        0.0, "Dropout in the encoder and predictor.", min=0.0, max=1.0, exclusive="max"
    )
    trade_off: float = key(
        0.9,
        "lambda in lambda * MSE + (1 - lambda) * NLL: the predictor's "
        "share of the loss, the rest is the decoder's.",
        min=0.0,
        max=1.0,
    )
    optimizer: str = key("adam", "The optimizer: adam or adamw.", choices=("adam", "adamw"))
    lr: float = key(1e-3, "Learning rate.", min=0.0, exclusive="min")
    lr_schedule: str = key(
        "constant",
        "constant: the paper's fixed Adam lr. cosine: linear "
        "warm-up over controller.warmup_epochs, then a cosine decay to lr * "
        "controller.lr_min_ratio at the last epoch (fewer epochs to the same "
        "quality).",
        choices=("constant", "cosine"),
    )
    warmup_epochs: int = key(
        0, "lr_schedule cosine: epochs of linear warm-up.", min=0, max=MAX_EPOCHS, why=EPOCHS_WHY
    )
    lr_min_ratio: float = key(
        0.0,
        "lr_schedule cosine: the last epoch's lr as a share of controller.lr.",
        min=0.0,
        max=1.0,
    )
    epochs: int = key(
        1000,
        "Epochs of a fit (the first round's; see search.warm_epochs).",
        min=1,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    batch_size: int = key(
        100,
        "Architectures per training batch.",
        min=1,
        max=MAX_BATCH,
        why="a batch is held in memory at once",
    )
    weight_decay: float = key(1e-4, "Weight decay.", min=0.0)
    grad_clip: float = key(5.0, "Gradient norm clipping (0: none).", min=0.0)
    symmetric_augment: bool = key(
        True,
        "Train on symmetric variants of each architecture too (the branches of a node swapped).",
    )
    patience: int = key(
        0,
        "Early stopping on a held-out slice of the training pool: stop "
        "after this many evaluations without improvement; 0 disables it.",
        min=0,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    holdout_fraction: float = key(
        0.1, "With patience: the share of the pool held out.", min=0.0, max=1.0, exclusive="max"
    )
    eval_every: int = key(
        10,
        "With patience: evaluate the held-out slice every this many epochs.",
        min=1,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    threads: int = key(
        1,
        "CPU threads while training: the LSTMs' matrices are small, so extra "
        "threads mostly add contention; 0 keeps torch's default.",
        min=0,
        max=MAX_THREADS,
        why=THREADS_WHY,
    )

    # ---- the predictor's loss and heads, and semi-supervised training. The defaults are the
    # paper's: one head, MSE only, labeled architectures only.
    rank_loss: str = key(
        "none",
        "A ranking loss beside MSE: none, hinge (pairwise: a better "
        "architecture must score controller.rank_margin higher on the [0, 1] "
        "scale) or listwise (ListMLE on the logits).",
        choices=RANK_LOSSES,
    )
    rank_weight: float = key(
        0.5,
        "The ranking loss's share of the predictor loss: (1 - "
        "rank_weight) * MSE + rank_weight * rank.",
        min=0.0,
        max=1.0,
    )
    rank_margin: float = key(0.05, "rank_loss hinge: the margin.", min=0.0)
    ensemble: int = key(
        1,
        "Predictor heads on the one encoder, each trained on its own "
        "bootstrap of the pool; the prediction is their mean and their spread "
        "feeds search.explore.",
        min=1,
        max=256,
        why="each head is a predictor trained every step",
    )
    pseudo_labels: int = key(
        0,
        "SemiNAS: after a fit, label this many unseen random "
        "architectures with the predictor and train "
        "controller.pseudo_epochs more epochs on the labeled and "
        "pseudo-labeled ones.",
        min=0,
        max=MAX_PSEUDO,
        why=PSEUDO_WHY,
    )
    pseudo_epochs: int = key(
        0,
        "SemiNAS: epochs on the pseudo-labeled architectures.",
        min=0,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    pseudo_batch_size: int = key(
        0,
        "SemiNAS: batch size (0: controller.batch_size; larger batches: fewer, cheaper steps).",
        min=0,
        max=MAX_BATCH,
        why="a batch is held in memory at once",
    )
    predictor_only: bool = key(
        False,
        "Train only the predictor heads, on the embeddings of the "
        "encoder as it is (encoder and decoder keep their weights; one "
        "cheap MLP step per batch). search.warm_predictor_only sets it "
        "for warm-started fits.",
    )


def check_controller(c: ControllerConfig) -> None:
    if c.warmup_epochs >= c.epochs and c.lr_schedule == "cosine":
        raise ConfigError(
            f"controller.warmup_epochs: expected fewer than controller.epochs ({c.epochs}), got {c.warmup_epochs}"
        )
