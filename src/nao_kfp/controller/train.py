"""Joint training of E, f and D on lambda*MSE + (1-lambda)*NLL (paper Eq. 1).

The loop is lean on purpose (users pay per epoch): the pool is turned into tensors once,
symmetric augmentation picks rows of a precomputed table of variants with one index
operation per epoch, and each batch is one encoder call, one teacher-forced decoder call.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from nao_kfp import trace
from nao_kfp.config import ControllerConfig
from nao_kfp.controller.metrics import hamming, pairwise_accuracy
from nao_kfp.controller.model import cpu_threads
from nao_kfp.controller.nao import NAOModel
from nao_kfp.errors import NaoError
from nao_kfp.jsontypes import Metrics
from nao_kfp.pool import PoolEntry, evaluated
from nao_kfp.spaces import Arch, SearchSpace

# Symmetric variants precomputed per architecture; each epoch every architecture also enters
# as one of them. A random walk of this length over the space's symmetries gives enough
# variety while the table stays small (N x 16 x L tokens).
VARIANTS = 16

Log = Callable[[str], None]


class ControllerError(NaoError):
    """The controller cannot be trained on the given pool."""


@dataclass
class _Data:
    tokens: Tensor  # N x L
    target: Tensor  # N, normalized to [0, 1]
    variants: Tensor | None  # N x VARIANTS x L symmetric variants, None: no augmentation
    weight: Tensor | None = None  # N, each row's weight in the predictor loss; None: all 1


def fit(
    space: SearchSpace[Arch],
    train: list[PoolEntry],
    cfg: ControllerConfig,
    *,
    seed: int,
    init: NAOModel | None = None,
    eval_set: list[PoolEntry] | None = None,
    log: Log | None = None,
    prior: list[PoolEntry] | None = None,
    prior_weight: float = 1.0,
) -> tuple[NAOModel, Metrics]:
    """Train a controller on the evaluated entries of `train` (warm-started from `init`).

    `prior`: more evaluated entries (an earlier search's, in this pool's units: prior.py),
    trained on beside the pool with `prior_weight` each in the predictor loss; the target
    scale, the held-out slice and the metrics are the pool's own.

    Metrics: seconds, epochs, n_train, pairwise_accuracy and hamming (on `eval_set` when given,
    else on the whole training pool), and the early-stopping record.
    """
    start = time.perf_counter()
    pool = _usable(space, train, "train")
    accs = [float(e.accuracy or 0.0) for e in pool]
    extra = evaluated(prior or [])
    acc = torch.tensor(accs + [float(e.accuracy or 0.0) for e in extra], dtype=torch.float32)
    # A forked RNG keeps the caller's global torch state untouched while making the initial
    # weights and dropout depend on `seed` only.
    with torch.random.fork_rng(devices=[]), cpu_threads(cfg.threads):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = NAOModel(space, cfg, target_min=min(accs), target_max=max(accs))
        if init is not None:
            model.copy_weights_from(init)
        both = pool + extra
        tokens = model.tokens([e.arch for e in both])
        hold_idx, train_idx = _split(len(pool), cfg, gen)
        train_idx = torch.cat((train_idx, torch.arange(len(pool), len(both))))
        rng = random.Random(seed)
        weight = torch.ones(len(both))
        weight[len(pool) :] = prior_weight
        data = _Data(
            tokens[train_idx],
            model.normalize(acc[train_idx]),
            _variant_table(space, [both[i].arch for i in train_idx.tolist()], rng)
            if cfg.symmetric_augment and space.has_symmetry
            else None,
            weight[train_idx] if extra else None,
        )
        hold = (tokens[hold_idx], acc[hold_idx]) if hold_idx.numel() else None
        record = _train(model, data, hold, cfg, gen, log)
        if cfg.pseudo_labels and cfg.pseudo_epochs:
            record["pseudo"] = _pseudo_round(model, pool, data, cfg, gen, rng, log)
    model.net.eval()
    check = _usable(space, eval_set, "eval") if eval_set is not None else pool
    with cpu_threads(cfg.threads):
        quality = evaluate(model, check)
    seconds = time.perf_counter() - start
    metrics: dict[str, Any] = {
        "seconds": round(seconds, 3),
        "n_train": len(pool),
        "n_eval": len(check),
        **quality,
        **record,
    }
    metrics["s_per_epoch"] = round(record["train_seconds"] / max(record["epochs"], 1), 5)
    return model, metrics


def evaluate(model: NAOModel, entries: list[PoolEntry]) -> dict[str, float]:
    """Pairwise accuracy of f and Hamming distance of D(E(x)) on `entries`."""
    tokens = model.tokens([e.arch for e in entries])
    true = [float(e.accuracy or 0.0) for e in entries]
    return _quality(model, tokens, torch.tensor(true))


def _quality(model: NAOModel, tokens: Tensor, true: Tensor) -> dict[str, float]:
    net = model.net
    net.eval()
    with torch.no_grad():
        states = net.encode(tokens)
        pred = net.predict(states)
        decoded = net.greedy(states)
    trace.record("predictions", pred)
    trace.record("reconstructions", decoded)
    pw = pairwise_accuracy(pred.tolist(), true.tolist()) if len(true) >= 2 else float("nan")
    return {"pairwise_accuracy": round(pw, 6), "hamming": round(hamming(decoded, tokens), 6)}


def _usable(space: SearchSpace[Arch], entries: list[PoolEntry], what: str) -> list[PoolEntry]:
    for e in entries:
        if e.space != space.name:
            raise ControllerError(
                f"{what}: architecture {e.arch_str!r} is from space {e.space!r}, not {space.name!r}"
            )
    ok = evaluated(entries)
    if len(ok) < 2:
        raise ControllerError(
            f"{what}: needs at least 2 evaluated architectures (status ok), got {len(ok)}"
        )
    return ok


def _split(n: int, cfg: ControllerConfig, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Held-out slice for early stopping; empty when early stopping is off or the pool is too
    small to rank (a slice needs 2 archs and so does the rest)."""
    n_hold = round(n * cfg.holdout_fraction) if cfg.patience > 0 else 0
    if n_hold < 2 or n - n_hold < 2:
        return torch.empty(0, dtype=torch.long), torch.arange(n)
    perm = torch.randperm(n, generator=gen)
    return perm[:n_hold].sort().values, perm[n_hold:].sort().values


def _variant_table(space: SearchSpace[Arch], archs: list[Arch], rng: random.Random) -> Tensor:
    rows = []
    for arch in archs:
        walk = []
        for _ in range(VARIANTS):
            arch = space.random_symmetric(arch, rng)
            walk.append(space.encode(arch))
        rows.append(walk)
    return torch.tensor(rows, dtype=torch.long).reshape(len(archs), VARIANTS, space.seq_len)


def _pseudo_round(
    model: NAOModel,
    pool: list[PoolEntry],
    data: _Data,
    cfg: ControllerConfig,
    gen: torch.Generator,
    rng: random.Random,
    log: Log | None,
) -> int:
    """SemiNAS: label controller.pseudo_labels unseen random architectures with f, then train
    controller.pseudo_epochs more epochs on them and the labeled ones together (the decoder
    and encoder see far more of the space than the few evaluated architectures)."""
    space = model.space
    archs = space.sample_unique(cfg.pseudo_labels, rng, exclude={e.id for e in pool})
    if not archs:
        return 0
    tokens = model.tokens(archs)
    model.net.eval()
    with torch.no_grad():
        target = model.net.predict(model.net.encode(tokens))
    trace.record("pseudo-label targets", target)
    variants = None
    if data.variants is not None:
        variants = torch.cat((data.variants, _variant_table(space, archs, rng)))
    weight = None
    if data.weight is not None:
        weight = torch.cat((data.weight, torch.ones(len(archs))))
    both = _Data(
        torch.cat((data.tokens, tokens)), torch.cat((data.target, target)), variants, weight
    )
    settings = dataclasses.replace(
        cfg, epochs=cfg.pseudo_epochs, batch_size=cfg.pseudo_batch_size or cfg.batch_size
    )
    with trace.step(f"{trace.current()}, pseudo-labels".lstrip(", ")):
        _train(model, both, None, settings, gen, log)
    return len(archs)


def _epoch_inputs(
    x: Tensor, variants: Tensor | None, target: Tensor, gen: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """One epoch's inputs (the rows of x, plus one random symmetric variant of each when the
    space has them), targets and row indices into x (to look up per-row weights). x: token
    rows, or their pooled embeddings for a predictor-only fit."""
    n = x.size(0)
    rows = torch.arange(n)
    if variants is None:
        return x, target, rows
    pick = torch.randint(VARIANTS, (n,), generator=gen)
    sym = variants[rows, pick]
    return torch.cat((x, sym)), torch.cat((target, target)), rows.repeat(2)


def _optimizer(
    params: Iterable[torch.nn.Parameter], cfg: ControllerConfig
) -> torch.optim.Optimizer:
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    # fused: one kernel updates all of the small parameter tensors. It is also the portable
    # choice: its square root is ATen's own, while the foreach update's torch.sqrt goes to MKL's
    # vector math (vsSqrt), whose rounding differs between CPUs even in MKL's COMPATIBLE mode
    # (nao_kfp.numerics: the one op that made a NAO run differ between Intel and AMD machines).
    return opt_cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)


def _objective(mse: Tensor, rank: Tensor, cfg: ControllerConfig) -> Tensor:
    """The predictor's loss: MSE, or (1 - rank_weight) * MSE + rank_weight * the ranking loss."""
    w = cfg.rank_weight if cfg.rank_loss != "none" else 0.0
    return mse if not w else (1.0 - w) * mse + w * rank


def predictor_loss(
    logits: Tensor, target: Tensor, cfg: ControllerConfig, weights: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """(MSE, ranking loss) of heads x B predictor logits against B targets in [0, 1], each
    the mean over heads; `weights` (heads x B) are the heads' bootstrap weights."""
    pred = torch.sigmoid(logits)
    if weights is None:
        mse = (
            F.mse_loss(pred[0], target)
            if pred.size(0) == 1
            else F.mse_loss(pred, target.expand_as(pred))
        )
    else:
        mse = ((pred - target) ** 2 * weights).sum() / weights.sum().clamp_min(1.0)
    if cfg.rank_loss == "none":
        return mse, torch.zeros(())
    w = torch.ones_like(pred) if weights is None else weights
    if cfg.rank_loss == "hinge":
        # every pair (i, j) with target_i > target_j: relu(margin - (pred_i - pred_j))
        better = (target[:, None] > target[None, :]).to(pred.dtype)
        pair_w = better * w[:, :, None] * w[:, None, :]
        gap = pred[:, :, None] - pred[:, None, :]
        rank = (F.relu(cfg.rank_margin - gap) * pair_w).sum() / pair_w.sum().clamp_min(1.0)
    else:  # listwise: ListMLE, -log P(the true order) under a Plackett-Luce model of the logits
        order = torch.argsort(target, descending=True, stable=True)
        s, ws = logits[:, order], w[:, order]
        tail = torch.logcumsumexp(s.flip(-1), dim=-1).flip(-1)
        rank = ((tail - s) * ws).sum() / ws.sum().clamp_min(1.0)
    return mse, rank


def _epoch_size(data: _Data) -> int:
    n = data.tokens.size(0)
    return 2 * n if data.variants is not None else n


def lr_at(cfg: ControllerConfig, steps_per_epoch: int) -> Callable[[int], float] | None:
    """The learning rate at each optimizer step (None: constant, the optimizer's own lr)."""
    if cfg.lr_schedule == "constant":
        return None
    warm = cfg.warmup_epochs * steps_per_epoch
    total = max(cfg.epochs * steps_per_epoch, warm + 1)
    low = cfg.lr * cfg.lr_min_ratio

    def lr(step: int) -> float:
        if step < warm:
            return cfg.lr * (step + 1) / warm
        t = min((step - warm) / max(total - warm - 1, 1), 1.0)
        return low + (cfg.lr - low) * 0.5 * (1.0 + math.cos(math.pi * t))

    return lr


def _bootstrap(model: NAOModel, n: int, gen: torch.Generator) -> Tensor | None:
    """Each head of an ensemble sees its own resampling of the pool (Poisson(1) counts as
    weights); a single head sees the pool as it is."""
    heads = len(model.net.heads())
    return torch.poisson(torch.ones(heads, n), generator=gen) if heads > 1 else None


def _row_weights(model: NAOModel, boot: Tensor | None, data: _Data, rows: Tensor) -> Tensor | None:
    """heads x B loss weights of a batch's rows: bootstrap counts times the rows' weights."""
    if data.weight is None:
        return None if boot is None else boot[:, rows]
    w = data.weight[rows].expand(len(model.net.heads()), -1)
    return w if boot is None else boot[:, rows] * w


def _train_predictor(
    model: NAOModel, data: _Data, cfg: ControllerConfig, gen: torch.Generator
) -> dict[str, Any]:
    """controller.predictor_only: the heads alone, on the frozen encoder's pooled embeddings
    (computed once), with the predictor loss; the encoder and decoder are untouched."""
    net = model.net
    params = [p for head in net.heads() for p in head.parameters()]
    opt = _optimizer(params, cfg)
    net.eval()
    with torch.no_grad():
        pooled = net.pool(net.encode(data.tokens))
        variants = None
        if data.variants is not None:
            n, v, length = data.variants.shape
            flat = data.variants.reshape(n * v, length)
            variants = net.pool(net.encode(flat)).reshape(n, v, -1)
    boot = _bootstrap(model, data.tokens.size(0), gen)
    t0 = time.perf_counter()
    mse_sum, batches = 0.0, 0
    for _epoch in range(cfg.epochs):
        x_all, y_all, rows_all = _epoch_inputs(pooled, variants, data.target, gen)
        perm = torch.randperm(x_all.size(0), generator=gen)
        mse_sum, batches = 0.0, 0
        for idx in perm.split(cfg.batch_size):
            w = _row_weights(model, boot, data, rows_all[idx])
            mse, rank = predictor_loss(net.pooled_logits(x_all[idx]), y_all[idx], cfg, w)
            loss = _objective(mse, rank, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            mse_sum, batches = mse_sum + mse.item(), batches + 1
        trace.record(f"epoch {_epoch + 1} predictor parameters", net.state_dict())
    return {
        "epochs": cfg.epochs,
        "train_seconds": round(time.perf_counter() - t0, 3),
        "mse": round(mse_sum / max(batches, 1), 6),
        "early_stopping": False,
        "predictor_only": True,
    }


def _train(
    model: NAOModel,
    data: _Data,
    hold: tuple[Tensor, Tensor] | None,
    cfg: ControllerConfig,
    gen: torch.Generator,
    log: Log | None,
) -> dict[str, Any]:
    if cfg.predictor_only:
        return _train_predictor(model, data, cfg, gen)
    net = model.net
    opt = _optimizer(net.parameters(), cfg)
    lam, vocab = cfg.trade_off, net.vocab_size
    stopper = _EarlyStopper(cfg.patience) if hold is not None else None
    steps_per_epoch = -(-_epoch_size(data) // cfg.batch_size)
    schedule = lr_at(cfg, steps_per_epoch)
    step = 0
    t0 = time.perf_counter()
    epoch, mse_sum, nll_sum, batches = 0, 0.0, 0.0, 0
    boot = _bootstrap(model, data.tokens.size(0), gen)
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        x_all, y_all, rows_all = _epoch_inputs(data.tokens, data.variants, data.target, gen)
        perm = torch.randperm(x_all.size(0), generator=gen)
        mse_sum, nll_sum, batches = 0.0, 0.0, 0
        for idx in perm.split(cfg.batch_size):
            x, y = x_all[idx], y_all[idx]
            states = net.encode(x)
            w = _row_weights(model, boot, data, rows_all[idx])
            mse, rank = predictor_loss(net.head_logits(states), y, cfg, w)
            nll = F.cross_entropy(net.decode_logits(states, x).reshape(-1, vocab), x.reshape(-1))
            loss = lam * _objective(mse, rank, cfg) + (1.0 - lam) * nll
            if schedule is not None:
                for group in opt.param_groups:
                    group["lr"] = schedule(step)
            step += 1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
            opt.step()
            mse_sum, nll_sum, batches = mse_sum + mse.item(), nll_sum + nll.item(), batches + 1
        trace.record(f"epoch {epoch} parameters", net.state_dict())
        if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
            msg = f"epoch {epoch}: mse {mse_sum / batches:.5f} nll {nll_sum / batches:.4f}"
            if stopper is not None and hold is not None:
                q = _quality(model, *hold)
                msg += f" held-out pairwise {q['pairwise_accuracy']:.4f} hamming {q['hamming']:.3f}"
                if stopper.update(epoch, q, net.state_dict(), time.perf_counter() - t0):
                    if log:
                        log(msg + " -> stop")
                    break
            if log:
                log(msg)
    train_seconds = time.perf_counter() - t0
    record: dict[str, Any] = {
        "epochs": epoch,
        "train_seconds": round(train_seconds, 3),
        "mse": round(mse_sum / max(batches, 1), 6),
        "nll": round(nll_sum / max(batches, 1), 6),
        "early_stopping": stopper is not None,
    }
    if stopper is not None and hold is not None:
        net.load_state_dict(stopper.best_state)
        record.update(
            best_epoch=stopper.best_epoch,
            best_seconds=round(stopper.best_seconds, 3),
            stopped_early=epoch < cfg.epochs,
            n_holdout=int(hold[0].size(0)),
            holdout_pairwise_accuracy=stopper.best["pairwise_accuracy"],
            holdout_hamming=stopper.best["hamming"],
        )
    return record


class _EarlyStopper:
    """Stop when neither held-out pairwise accuracy nor Hamming distance has improved for
    `patience` evaluations; the best state is the one from the last evaluation that improved
    either (both matter: f ranks the seeds, D turns moved embeddings back into archs)."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best_pw, self.best_ham = -1.0, float("inf")
        self.best: dict[str, float] = {}
        self.best_epoch, self.stale = 0, 0
        self.best_seconds = 0.0
        self.best_state: dict[str, Tensor] = {}

    def update(
        self, epoch: int, q: dict[str, float], state: dict[str, Tensor], seconds: float
    ) -> bool:
        improved = q["pairwise_accuracy"] > self.best_pw or q["hamming"] < self.best_ham
        self.best_pw = max(self.best_pw, q["pairwise_accuracy"])
        self.best_ham = min(self.best_ham, q["hamming"])
        if improved:
            self.best, self.best_epoch, self.stale = dict(q), epoch, 0
            self.best_seconds = seconds
            self.best_state = {k: v.detach().clone() for k, v in state.items()}
            return False
        self.stale += 1
        return self.stale >= self.patience
