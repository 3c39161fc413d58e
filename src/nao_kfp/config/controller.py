"""controller: the NAO encoder / predictor / decoder and its training, with their checks."""

from __future__ import annotations

from dataclasses import dataclass

from nao_kfp.config.bounds import _positive
from nao_kfp.errors import ConfigError

RANK_LOSSES = ("none", "hinge", "listwise")


@dataclass(frozen=True)
class ControllerConfig:
    """The NAO encoder / predictor / decoder and its joint training (Eq. 1)."""

    embedding_size: int = 32
    hidden_size: int = 96
    mlp_layers: int = 1
    mlp_hidden: int = 200
    dropout: float = 0.0
    trade_off: float = 0.9  # lambda in  lambda*MSE + (1-lambda)*NLL
    optimizer: str = "adam"
    lr: float = 1e-3
    # constant: the paper's fixed Adam lr. cosine: linear warm-up over warmup_epochs, then a
    # cosine decay to lr * lr_min_ratio at the last epoch (fewer epochs to the same quality).
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    lr_min_ratio: float = 0.0
    epochs: int = 1000
    # A fit of exactly this many optimizer steps instead (batches drawn epoch by epoch from the
    # reshuffled pool, the last epoch cut short), so that its cost does not grow with the pool;
    # its pseudo-label pass takes its epochs' steps over the pseudo-labels alone. 0: epochs.
    # search.warm_steps sets it for warm-started fits.
    steps: int = 0
    batch_size: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    symmetric_augment: bool = True
    # Early stopping on a held-out slice of the training pool; 0 disables it.
    patience: int = 0
    holdout_fraction: float = 0.1
    eval_every: int = 10
    # CPU threads while training: the LSTMs' matrices are small, so extra threads mostly add
    # contention (measured in benchmarks/bench_controller.py); 0 keeps torch's default.
    threads: int = 1

    # ---- the predictor's loss and heads, and semi-supervised training (issue 11). The
    # defaults are the paper's: one head, MSE only, labeled architectures only.
    # A ranking loss beside MSE: none, hinge (pairwise: a better arch must score rank_margin
    # higher on the [0, 1] scale) or listwise (ListMLE on the logits); rank_weight is its
    # share of the predictor loss, (1 - rank_weight) * MSE + rank_weight * rank.
    rank_loss: str = "none"
    rank_weight: float = 0.5
    rank_margin: float = 0.05
    # Predictor heads on the one encoder, each trained on its own bootstrap of the pool
    # (Poisson(1) weights); f is their mean and their spread feeds search.explore.
    ensemble: int = 1
    # SemiNAS (Luo et al. 2020): after a fit, label this many unseen random architectures with
    # the predictor and train pseudo_epochs more epochs on the labeled and pseudo-labeled ones.
    pseudo_labels: int = 0
    pseudo_epochs: int = 0
    pseudo_batch_size: int = 0  # 0: controller.batch_size (larger batches: fewer, cheaper steps)
    # Train only the predictor heads, on the embeddings of the encoder as it is (encoder and
    # decoder keep their weights; one cheap MLP step per batch). search.warm_predictor_only
    # sets it for warm-started fits.
    predictor_only: bool = False


def check_controller(c: ControllerConfig) -> None:
    for key in (
        "embedding_size",
        "hidden_size",
        "mlp_layers",
        "mlp_hidden",
        "epochs",
        "batch_size",
    ):
        _positive(f"controller.{key}", getattr(c, key))
    if not 0.0 <= c.trade_off <= 1.0:
        raise ConfigError(f"controller.trade_off: expected a value in [0, 1], got {c.trade_off}")
    if not 0.0 <= c.dropout < 1.0:
        raise ConfigError(f"controller.dropout: expected a value in [0, 1), got {c.dropout}")
    if c.optimizer not in ("adam", "adamw"):
        raise ConfigError(f"controller.optimizer: expected adam or adamw, got {c.optimizer!r}")
    if c.lr <= 0:
        raise ConfigError(f"controller.lr: expected a positive learning rate, got {c.lr}")
    if c.lr_schedule not in ("constant", "cosine"):
        raise ConfigError(
            f"controller.lr_schedule: expected constant or cosine, got {c.lr_schedule!r}"
        )
    _positive("controller.warmup_epochs", c.warmup_epochs, zero_ok=True)
    if c.warmup_epochs >= c.epochs and c.lr_schedule == "cosine":
        raise ConfigError(
            f"controller.warmup_epochs: expected fewer than controller.epochs ({c.epochs}), got {c.warmup_epochs}"
        )
    if not 0.0 <= c.lr_min_ratio <= 1.0:
        raise ConfigError(
            f"controller.lr_min_ratio: expected a value in [0, 1], got {c.lr_min_ratio}"
        )
    if not 0.0 <= c.holdout_fraction < 1.0:
        raise ConfigError(
            f"controller.holdout_fraction: expected a value in [0, 1), got {c.holdout_fraction}"
        )
    _positive("controller.patience", c.patience, zero_ok=True)
    _positive("controller.weight_decay", c.weight_decay, zero_ok=True)
    _positive("controller.grad_clip", c.grad_clip, zero_ok=True)
    _positive("controller.eval_every", c.eval_every)
    _positive("controller.threads", c.threads, zero_ok=True)
    if c.rank_loss not in RANK_LOSSES:
        raise ConfigError(
            f"controller.rank_loss: expected one of {', '.join(RANK_LOSSES)}, got {c.rank_loss!r}"
        )
    if not 0.0 <= c.rank_weight <= 1.0:
        raise ConfigError(
            f"controller.rank_weight: expected a value in [0, 1], got {c.rank_weight}"
        )
    _positive("controller.rank_margin", c.rank_margin, zero_ok=True)
    _positive("controller.ensemble", c.ensemble)
    _positive("controller.steps", c.steps, zero_ok=True)
    _positive("controller.pseudo_labels", c.pseudo_labels, zero_ok=True)
    _positive("controller.pseudo_epochs", c.pseudo_epochs, zero_ok=True)
    _positive("controller.pseudo_batch_size", c.pseudo_batch_size, zero_ok=True)
