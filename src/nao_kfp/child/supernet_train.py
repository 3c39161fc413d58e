"""Training a supernet on a pool of architectures and scoring architectures with its weights.

train_supernet(space, cfg, archs, data, work_dir, *, epochs_to, seed) -> dict
score_archs(space, cfg, archs, data, work_dir, *, epoch=None, bn=None) -> list[float]

A search trains to each epoch of cfg.supernet.schedule() in turn (one round each) and scores its
pool there; the final selection's re-ranking from scratch is final.rerank's. Language models
(enas-rnn): load_data gives a Corpus, which train_supernet hands to rnn_supernet_train.py (the
recurrent supernet, scored by perplexity there); the rest of this module is the image spaces'.

The schedule (cfg.supernet): SGD with momentum, one cosine period from lr_max to lr_min over all
`epochs` (stepped per batch), weight decay, gradient clipping, drop-path. Each minibatch trains
one architecture drawn uniformly from `archs` (the current pool) with a per-epoch seeded
generator. train_supernet trains from the checkpoint in work_dir up to the absolute epoch
`epochs_to`, so a search calls it with 30, 60, ... and passes the pool of each round; after every
epoch the model, optimizer, scheduler, RNG states and history go atomically to
work_dir/checkpoint.pt, and the weights reached at each `epochs_to` stay in
work_dir/supernet-epoch<N>.pt for score_archs. A resumed run ends with bitwise the weights of an
uninterrupted one (CPU, same seed, same pools).

Scoring: an architecture's score is its top-1 accuracy (a fraction) on the first
dev_batches × eval_batch_size dev images, the same fixed batches for every architecture, with
the shared weights. BatchNorm statistics (supernet.bn), best chosen per space:
  train        (the default; enas) each dev batch is normalized with its own statistics (the
               official NAO-WS code, `bn_train=True`). No extra passes.
  running      (nb201) eval mode with the running statistics accumulated while training the
               supernet. No extra passes.
  recalibrate  the architecture's running statistics are re-estimated from bn_batches fixed
               training batches (cumulative average), then the dev batches run in eval mode.
               Costs bn_batches extra forward passes per architecture.
Measured with benchmarks/bench_supernet.py (Kendall tau of the scores against ground truth):
  nb201  CIFAR-10 25k/25k, supernet C=8, N=1, 15 epochs, pool = the 725 sampled cells, one dev
         batch of 500, against the benchmark's validation accuracy: running 0.31, recalibrate
         (4 batches of 64) 0.21, train 0.16. On 200 of the cells: running 0.290 / 0.293 with 1 /
         4 dev batches, train 0.145 / 0.279, recalibrate 0.187 / 0.171 with 4 / 16 batches.
  enas   5k training images, supernet C=8, N=1, 10 epochs at lr 0.05 on a pool of 10, against
         the dev accuracy of the 10 trained alone for 2 epochs: train 0.49, recalibrate 0.36,
         running 0.07 (10 architectures: about ±0.25).
Why they differ: NB201's shared layers (stem, reduction blocks, head) sit in a fixed skeleton,
so their running statistics fit every cell roughly, and judging each cell in those statistics
penalizes cells whose activations are far off (chains of skips and `none`: train mode's
top-scored cell was one, true rank 589 of 725). Per-architecture statistics make every cell's
activations look normal and squeeze the scores together (std 0.033 around 0.57 against 0.13
around 0.39), so one batch of 500 drowns them in binomial noise (±0.022); train mode needs 4×
the dev images to catch up. In the enas supernet every cell ends in the shared combine BN over a
different subset of node outputs for each architecture, so its running statistics fit no
architecture (running-mode scores 0.09-0.27 against 0.24-0.36 with batch statistics) and
per-architecture statistics win.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp.child import data as image_data
from nao_kfp.child import runtime
from nao_kfp.child.cnn import NetSpec
from nao_kfp.child.data import Corpus
from nao_kfp.child.rnn_supernet_train import score_cells, train_rnn_supernet
from nao_kfp.child.runtime import Scored, check_identity, snapshot_path
from nao_kfp.child.supernet import CellSupernet, Nb201Supernet, build_supernet
from nao_kfp.child.train import autocast
from nao_kfp.config import Config
from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.results import EpochRecord, SupernetTrained, TrainState
from nao_kfp.spaces import Arch, SearchSpace

Log = Callable[[str], None]
# the settings a checkpoint's weights depend on; the others (scoring, rerank) may change freely
TRAINING_KEYS = (
    "layers", "channels", "batch_size", "epochs", "lr_max", "lr_min", "momentum",
    "weight_decay", "grad_clip", "drop_path",
)  # fmt: skip


def supernet_spec(cfg: Config, data: image_data.Split) -> NetSpec:
    return NetSpec(
        layers=cfg.supernet.layers, channels=cfg.supernet.channels, classes=data.classes,
        in_channels=data.train_x.shape[1], input_size=data.train_x.shape[2],
    )  # fmt: skip


def _identity(space: SearchSpace[Arch], cfg: Config, data: image_data.Split, seed: int) -> dict:
    sn = dataclasses.asdict(cfg.supernet)
    return {
        **{k: sn[k] for k in TRAINING_KEYS},
        "space": space.name, "seed": seed, "train_size": len(data.train_y),
        "spec": dataclasses.asdict(supernet_spec(cfg, data)),
    }  # fmt: skip


def _layout(amp: bool) -> torch.memory_format:
    """channels_last with bf16 autocast on CUDA (the tensor cores' layout for convolutions, as
    for the stand-alone children); the default layout otherwise."""
    return torch.channels_last if amp else torch.contiguous_format


def train_supernet(
    space: SearchSpace[Arch],
    cfg: Config,
    archs: Sequence[Arch],
    data: image_data.Split | Corpus,
    work_dir: Path,
    *,
    epochs_to: int,
    seed: int,
    on_checkpoint: Callable[[Path], None] | None = None,
    on_epoch: Callable[[EpochRecord, float], None] | None = None,
    log: Log | None = None,
) -> SupernetTrained:
    """Train the supernet in work_dir up to absolute epoch `epochs_to` on minibatches of
    architectures drawn from `archs`; return {epoch, epochs, history, seconds, params, device,
    train_size, snapshot}. A work_dir already at or past epochs_to trains nothing.
    on_epoch(record, seconds): after each epoch, its history record and its wall time.
    A Corpus (load_data of a language-model space) trains the recurrent supernet instead
    (rnn_supernet_train.py)."""
    if isinstance(data, Corpus):
        return train_rnn_supernet(
            space, cfg, archs, data, work_dir, epochs_to=epochs_to, seed=seed,
            on_checkpoint=on_checkpoint, on_epoch=on_epoch, log=log,
        )  # fmt: skip
    sn, log = cfg.supernet, log or (lambda _msg: None)
    if not 0 < epochs_to <= sn.epochs:
        raise ConfigError(f"supernet.epochs: epochs_to={epochs_to} is outside 1..{sn.epochs}")
    if not archs:
        raise ArchError("supernet: no architectures to train")
    steps = len(data.train_y) // sn.batch_size  # whole batches only: BN needs more than one image
    if steps == 0:
        raise ConfigError(
            f"supernet.batch_size: {sn.batch_size} exceeds the {len(data.train_y)} training images"
        )
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = work_dir / runtime.CHECKPOINT
    ident = _identity(space, cfg, data, seed)
    device = runtime.pick_device(cfg.child.device)
    amp = cfg.child.amp and device.type == "cuda"
    flip = cfg.child.dataset != "digits"  # a mirrored digit is another glyph
    pad = max(data.train_x.shape[2] // 8, 1)
    with runtime.cpu_threads(cfg.child.cpu_threads), runtime.deterministic(device.type == "cpu"):
        runtime.seed_everything(seed)
        net = build_supernet(space, ident_spec(ident)).to(device)
        net = net.to(memory_format=_layout(amp))  # type: ignore[call-overload]
        opt = torch.optim.SGD(
            net.parameters(), lr=sn.lr_max, momentum=sn.momentum, weight_decay=sn.weight_decay
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=sn.epochs * steps, eta_min=sn.lr_min
        )
        state: TrainState = {"epoch": 0, "history": [], "seconds": 0.0}
        if ckpt_path.is_file():
            resumed = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            check_identity(ckpt_path, resumed["identity"], ident, TRAINING_KEYS)
            net.load_state_dict(resumed["model"])
            opt.load_state_dict(resumed["optimizer"])
            sched.load_state_dict(resumed["scheduler"])
            runtime.set_rng_state(resumed["rng"])
            state = runtime.resumed_state(resumed)
            if state["epoch"] < epochs_to:
                log(f"supernet: resuming at epoch {state['epoch'] + 1} from {ckpt_path}")
        for epoch in range(state["epoch"], epochs_to):
            t0 = time.perf_counter()
            torch.manual_seed(runtime.epoch_seed(seed, epoch, "torch"))
            g = torch.Generator().manual_seed(runtime.epoch_seed(seed, epoch, "data"))
            pick = random.Random(runtime.epoch_seed(seed, epoch, "arch"))
            net.train()
            net.set_drop_path(sn.drop_path, (epoch + 1) / sn.epochs)
            perm = torch.randperm(len(data.train_y), generator=g)
            total_loss, correct = 0.0, 0
            for i in range(steps):
                idx = perm[i * sn.batch_size : (i + 1) * sn.batch_size]
                xb = image_data.augment(data.train_x[idx], g, pad=pad, flip=flip, cutout=0)
                xb, yb = xb.to(device, memory_format=_layout(amp)), data.train_y[idx].to(device)
                arch = archs[pick.randrange(len(archs))]
                with autocast(device, amp):
                    logits = net(xb, arch)
                    loss = F.cross_entropy(logits, yb)
                # None, not zero: SGD then leaves the unsampled ops' weights and momenta alone
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if sn.grad_clip > 0:
                    nn.utils.clip_grad_norm_(net.parameters(), sn.grad_clip)
                opt.step()
                sched.step()
                total_loss += float(loss.detach())
                correct += int((logits.argmax(1) == yb).sum())
            seen = steps * sn.batch_size
            took = time.perf_counter() - t0
            state["seconds"] += took
            state["history"].append(
                {"epoch": epoch + 1, "loss": total_loss / steps, "train_accuracy": correct / seen,
                 "lr": float(sched.get_last_lr()[0]), "pool": len(archs)}
            )  # fmt: skip
            state["epoch"] = epoch + 1
            log(
                f"supernet epoch {epoch + 1}/{sn.epochs} loss {total_loss / steps:.4f} "
                f"train accuracy {correct / seen:.4f} ({len(archs)} archs)"
            )
            runtime.save_checkpoint(
                ckpt_path,
                {"identity": ident, "model": net.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "rng": runtime.rng_state(), **state},
            )  # fmt: skip
            if on_checkpoint is not None:
                on_checkpoint(ckpt_path)
            if on_epoch is not None:
                on_epoch(state["history"][-1], took)
        snap = snapshot_path(work_dir, epochs_to)
        if state["epoch"] == epochs_to and not snap.is_file():
            runtime.save_checkpoint(
                snap, {"identity": ident, "model": net.state_dict(), "epoch": epochs_to}
            )
    return {
        "epoch": state["epoch"],
        "epochs": sn.epochs,
        "history": state["history"],
        "seconds": round(state["seconds"], 3),
        "params": sum(p.numel() for p in net.parameters()),
        "device": device.type,
        "train_size": len(data.train_y),
        "snapshot": str(snap) if snap.is_file() else None,
    }


def ident_spec(ident: dict) -> NetSpec:
    return NetSpec(**ident["spec"])


def _bn_layers(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _batch_stats_mode(net: nn.Module) -> None:
    """BatchNorm normalizes with each batch's statistics; drop-path and dropout stay off."""
    net.eval()
    for bn in _bn_layers(net):
        bn.train()


def _recalibrate(
    net: CellSupernet | Nb201Supernet, arch: Arch, batches: list[torch.Tensor]
) -> None:
    bns = _bn_layers(net)
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a cumulative average over the batches
    _batch_stats_mode(net)
    with torch.no_grad():
        for xb in batches:
            net(xb, arch)
    for bn, m in zip(bns, momenta, strict=True):
        bn.momentum = m
    net.eval()


def score_archs(
    space: SearchSpace[Arch],
    cfg: Config,
    archs: Sequence[Arch],
    data: image_data.Split,
    work_dir: Path,
    *,
    epoch: int | None = None,
    bn: str | None = None,
    on_scored: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Each architecture's accuracy (a fraction) on the fixed dev batches with the shared weights
    of the supernet in work_dir: the weights reached at `epoch` (an epochs_to of train_supernet),
    else the latest checkpoint. bn overrides supernet.bn (for measuring the alternatives).
    on_scored(i, n): after the i-th of the n architectures."""
    sn = cfg.supernet
    mode = bn or sn.bn
    if mode not in ("train", "recalibrate", "running"):
        raise ConfigError(f"supernet.bn: unknown mode {mode!r}")
    path = snapshot_path(work_dir, epoch) if epoch else Path(work_dir) / runtime.CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"supernet: no trained supernet at {path} (run train_supernet first)")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["identity"]["space"] != space.name:
        raise ConfigError(f"supernet: {path} holds a {saved['identity']['space']} supernet")
    n_dev = sn.dev_batches * sn.eval_batch_size
    if len(data.dev_y) < n_dev:
        raise ConfigError(
            f"supernet.dev_batches: {sn.dev_batches} batches of {sn.eval_batch_size} need "
            f"{n_dev} dev images; the data has {len(data.dev_y)} (child.dev_size)"
        )
    device = runtime.pick_device(cfg.child.device)
    amp = cfg.child.amp and device.type == "cuda"
    dev = [  # moved once: every architecture runs on the same batches
        (
            data.dev_x[i : i + sn.eval_batch_size].to(device, memory_format=_layout(amp)),
            data.dev_y[i : i + sn.eval_batch_size],
        )
        for i in range(0, n_dev, sn.eval_batch_size)
    ]
    calib = [
        data.train_x[i * sn.batch_size : (i + 1) * sn.batch_size].to(
            device, memory_format=_layout(amp)
        )
        for i in range(sn.bn_batches if mode == "recalibrate" else 0)
    ]
    scores = []
    with runtime.cpu_threads(cfg.child.cpu_threads), runtime.deterministic(device.type == "cpu"):
        net = build_supernet(space, ident_spec(saved["identity"]))
        net.load_state_dict(saved["model"])
        net.to(device)
        net.to(memory_format=_layout(amp))  # type: ignore[call-overload]
        for arch in archs:
            if mode == "recalibrate":
                _recalibrate(net, arch, calib)
            elif mode == "train":
                _batch_stats_mode(net)
            else:
                net.eval()
            correct = 0
            with torch.no_grad(), autocast(device, amp):
                for xb, yb in dev:
                    logits = net(xb, arch)
                    correct += int((logits.argmax(1).cpu() == yb).sum())
            scores.append(correct / n_dev)
            if on_scored is not None:
                on_scored(len(scores), len(archs))
    return scores


def score_pool(
    space: SearchSpace[Arch],
    cfg: Config,
    archs: Sequence[Arch],
    data: image_data.Split | Corpus,
    work_dir: Path,
    *,
    epoch: int | None = None,
    on_scored: Callable[[int, int], None] | None = None,
) -> list[Scored]:
    """Each architecture's score with the shared weights, as the search records it: an image
    supernet's dev accuracy (score_archs), a language model's score of its perplexity
    (rnn_supernet_train.score_cells)."""
    if isinstance(data, Corpus):
        return score_cells(space, cfg, archs, data, work_dir, epoch=epoch, on_scored=on_scored)
    scores = score_archs(space, cfg, archs, data, work_dir, epoch=epoch, on_scored=on_scored)
    return [Scored(s) for s in scores]
