"""NAO-WS for the ENAS recurrent cell (enas-rnn): training the RnnSupernet and scoring cells.

load_corpus(child_cfg, supernet_cfg) -> Corpus
train_rnn_supernet(space, cfg, archs, corpus, work_dir, *, epochs_to, seed) -> dict
score_perplexities(space, cfg, archs, corpus, work_dir, *, epoch=None) -> list[float]
score_cells(...) -> list[Scored]                 (the same as the search's scores)

The counterpart of supernet_train.py for language models (train_supernet and the supernet
evaluator hand a Corpus here), with the same checkpoint contract: after every epoch the model,
optimizer, scheduler, RNG states and history go atomically to work_dir/checkpoint.pt, the
weights reached at each `epochs_to` stay in work_dir/supernet-epoch<N>.pt, and a resumed run
ends with bitwise the weights of an uninterrupted one (CPU, same seed, same pools).

Training (the ENAS / NAO-WS PTB recipe; cfg.supernet for the optimizer and schedule and, as
supernet.channels, the width of the shared model: embedding = hidden size, as the official
NAO-WS code's 300 against the final cell's 850; the variational dropouts and bptt from
cfg.child.rnn; supernet.layers and drop_path do not apply): the training tokens cut into
supernet.batch_size parallel streams, truncated backpropagation through child.rnn.bptt steps
with the hidden state carried from window to window; each window trains one cell drawn
uniformly from `archs` (the current pool) with a per-epoch seeded generator. A window whose
loss or gradient is not finite (a cell whose state overflowed) is skipped, not applied to the
weights every cell shares (history: `skipped`). SGD (supernet.
momentum, weight_decay), one cosine period from lr_max to lr_min over all epochs (lr_min =
lr_max: constant, the paper's), gradient clipping supernet.grad_clip (0.25 in the paper's
recipe: an RNN's gradients explode without it), the embedding tied with the decoder.

Scoring: a cell's validation perplexity with the shared weights on fixed batches, the same for
every cell: the validation tokens cut into supernet.eval_batch_size streams, the first
supernet.dev_batches windows of bptt steps, the hidden state starting at zero and carried.
Lower is better; score_cells turns it into the search's score 1 - ln(ppl) / ln(V)
(metric.perplexity_score), which ranks exactly as perplexity does, and keeps the perplexity
beside it (dev_perplexity, vocab).
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp.child import runtime
from nao_kfp.child.data import Corpus
from nao_kfp.child.rnn import RnnSpec, RnnSupernet
from nao_kfp.child.runtime import ChildDiverged, Scored, check_identity, snapshot_path
from nao_kfp.config import Config
from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.metric import perplexity_score
from nao_kfp.results import EpochRecord, SupernetTrained, TrainState
from nao_kfp.spaces import Arch, SearchSpace

Log = Callable[[str], None]
DIVERGED = "supernet: the cell's state diverged with the shared weights (validation perplexity is not finite)"
# the settings a checkpoint's weights depend on (supernet.* and child.rnn.*)
SUPERNET_KEYS = (
    "channels", "batch_size", "epochs", "lr_max", "lr_min", "momentum", "weight_decay", "grad_clip",
)  # fmt: skip


def rnn_spec(cfg: Config, vocab: int) -> RnnSpec:
    """The shared model: supernet.channels wide (embedding = hidden, tied with the decoder),
    child.rnn's dropouts."""
    r, width = cfg.child.rnn, cfg.supernet.channels
    return RnnSpec(
        vocab=vocab, embedding_size=width, hidden_size=width,
        dropout=r.dropout, dropout_h=r.dropout_h, dropout_x=r.dropout_x,
        dropout_i=r.dropout_i, dropout_e=r.dropout_e,
    )  # fmt: skip


def _identity(space: SearchSpace[Arch], cfg: Config, corpus: Corpus, seed: int) -> dict:
    sn = dataclasses.asdict(cfg.supernet)
    return {
        **{k: sn[k] for k in SUPERNET_KEYS},
        "space": space.name, "seed": seed, "train_size": corpus.train_tokens,
        "bptt": cfg.child.rnn.bptt, "nodes": space.nodes,  # type: ignore[attr-defined]
        "spec": dataclasses.asdict(rnn_spec(cfg, corpus.vocab)),
    }  # fmt: skip


def _windows(data: torch.Tensor, bptt: int) -> list[int]:
    return list(range(0, data.size(0) - 1, bptt))


def dev_windows(corpus: Corpus, cfg: Config) -> list[int]:
    """Where the supernet.dev_batches scoring windows start in the validation text."""
    sn, bptt = cfg.supernet, cfg.child.rnn.bptt
    windows = _windows(corpus.valid, bptt)[: sn.dev_batches]
    if len(windows) < sn.dev_batches:
        raise ConfigError(
            f"supernet.dev_batches: {sn.dev_batches} windows of child.rnn.bptt={bptt} tokens in "
            f"supernet.eval_batch_size={sn.eval_batch_size} streams need "
            f"{sn.dev_batches * bptt * sn.eval_batch_size} validation tokens; the corpus has "
            f"{corpus.valid.numel()}"
        )
    return windows


def _batch(data: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    y = data[i + 1 : i + 1 + bptt]
    return data[i : i + len(y)], y


def train_rnn_supernet(
    space: SearchSpace[Arch],
    cfg: Config,
    archs: Sequence[Arch],
    corpus: Corpus,
    work_dir: Path,
    *,
    epochs_to: int,
    seed: int,
    on_checkpoint: Callable[[Path], None] | None = None,
    on_epoch: Callable[[EpochRecord, float], None] | None = None,
    log: Log | None = None,
) -> SupernetTrained:
    """Train the recurrent supernet in work_dir up to absolute epoch `epochs_to`, one cell of
    `archs` per bptt window; return {epoch, epochs, history, seconds, params, device,
    train_size, snapshot} as train_supernet does. History records: epoch, loss, perplexity
    (of the training windows, with dropout), lr, pool."""
    sn, bptt, log = cfg.supernet, cfg.child.rnn.bptt, log or (lambda _msg: None)
    if not 0 < epochs_to <= sn.epochs:
        raise ConfigError(f"supernet.epochs: epochs_to={epochs_to} is outside 1..{sn.epochs}")
    if not archs:
        raise ArchError("supernet: no architectures to train")
    windows = _windows(corpus.train, bptt)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = work_dir / runtime.CHECKPOINT
    ident = _identity(space, cfg, corpus, seed)
    device = runtime.pick_device(cfg.child.device)
    with runtime.cpu_threads(cfg.child.cpu_threads), runtime.deterministic(device.type == "cpu"):
        runtime.seed_everything(seed)
        net = RnnSupernet(ident["nodes"], RnnSpec(**ident["spec"])).to(device)
        opt = torch.optim.SGD(
            net.parameters(), lr=sn.lr_max, momentum=sn.momentum, weight_decay=sn.weight_decay
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=sn.epochs * len(windows), eta_min=sn.lr_min
        )
        state: TrainState = {"epoch": 0, "history": [], "seconds": 0.0}
        if ckpt_path.is_file():
            resumed = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            check_identity(ckpt_path, resumed["identity"], ident, SUPERNET_KEYS)
            net.load_state_dict(resumed["model"])
            opt.load_state_dict(resumed["optimizer"])
            sched.load_state_dict(resumed["scheduler"])
            runtime.set_rng_state(resumed["rng"])
            state = runtime.resumed_state(resumed)
            if state["epoch"] < epochs_to:
                log(f"supernet: resuming at epoch {state['epoch'] + 1} from {ckpt_path}")
        train = corpus.train.to(device)
        for epoch in range(state["epoch"], epochs_to):
            t0 = time.perf_counter()
            torch.manual_seed(runtime.epoch_seed(seed, epoch, "torch"))
            pick = random.Random(runtime.epoch_seed(seed, epoch, "arch"))
            net.train()
            hidden = net.init_hidden(train.size(1))
            total, count, skipped = 0.0, 0, 0
            for i in windows:
                x, y = _batch(train, i, bptt)
                arch = archs[pick.randrange(len(archs))]
                hidden = hidden.detach()  # truncated backpropagation through time
                logits, hidden = net(x, hidden, arch)
                loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
                # None, not zero: SGD then leaves the unsampled wires' weights and momenta alone
                opt.zero_grad(set_to_none=True)
                loss.backward()
                norm = nn.utils.clip_grad_norm_(net.parameters(), sn.grad_clip or math.inf)
                if torch.isfinite(loss) and torch.isfinite(norm):
                    opt.step()
                    total += float(loss.detach()) * y.numel()
                    count += y.numel()
                else:
                    # a cell whose state blew up (relu / identity chains) must not poison the
                    # weights every cell shares: its window is skipped, its state restarted
                    skipped += 1
                    hidden = net.init_hidden(train.size(1))
                sched.step()
            loss_mean = total / count if count else math.inf
            if not math.isfinite(loss_mean):
                raise ChildDiverged(
                    f"supernet: training loss is {loss_mean} in epoch {epoch + 1}; the shared "
                    "weights diverged (lower supernet.lr_max or supernet.grad_clip)"
                )
            took = time.perf_counter() - t0
            state["seconds"] += took
            state["history"].append(
                {"epoch": epoch + 1, "loss": loss_mean, "perplexity": math.exp(min(loss_mean, 50.0)),
                 "lr": float(sched.get_last_lr()[0]), "pool": len(archs), "skipped": skipped}
            )  # fmt: skip
            state["epoch"] = epoch + 1
            log(
                f"supernet epoch {epoch + 1}/{sn.epochs} loss {loss_mean:.4f} train ppl "
                f"{math.exp(min(loss_mean, 50.0)):.1f} ({len(archs)} archs)"
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
        "train_size": corpus.train_tokens,
        "snapshot": str(snap) if snap.is_file() else None,
    }


def score_perplexities(
    space: SearchSpace[Arch],
    cfg: Config,
    archs: Sequence[Arch],
    corpus: Corpus,
    work_dir: Path,
    *,
    epoch: int | None = None,
    on_scored: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Each cell's validation perplexity (lower is better) on the fixed batches with the shared
    weights of the supernet in work_dir: those reached at `epoch`, else the latest checkpoint;
    inf for a cell whose state diverges (relu / identity chains can overflow without dropout).
    on_scored(i, n): after the i-th of the n cells."""
    bptt = cfg.child.rnn.bptt
    path = snapshot_path(work_dir, epoch) if epoch else Path(work_dir) / runtime.CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"supernet: no trained supernet at {path} (run train_supernet first)")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    if saved["identity"]["space"] != space.name:
        raise ConfigError(f"supernet: {path} holds a {saved['identity']['space']} supernet")
    windows = dev_windows(corpus, cfg)
    device = runtime.pick_device(cfg.child.device)
    valid = corpus.valid.to(device)
    out = []
    with runtime.cpu_threads(cfg.child.cpu_threads), runtime.deterministic(device.type == "cpu"):
        ident = saved["identity"]
        net = RnnSupernet(ident["nodes"], RnnSpec(**ident["spec"]))
        net.load_state_dict(saved["model"])
        net.to(device).eval()
        for arch in archs:
            hidden = net.init_hidden(valid.size(1))
            total, count = 0.0, 0
            with torch.no_grad():
                for i in windows:
                    x, y = _batch(valid, i, bptt)
                    logits, hidden = net(x, hidden, arch)
                    total += float(
                        F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
                    )
                    count += y.numel()
            loss = total / count  # a cell whose state diverged: inf (never a NaN)
            out.append(math.exp(min(loss, 50.0)) if math.isfinite(loss) else math.inf)
            if on_scored is not None:
                on_scored(len(out), len(archs))
    return out


def score_cells(
    space: SearchSpace[Arch],
    cfg: Config,
    archs: Sequence[Arch],
    corpus: Corpus,
    work_dir: Path,
    *,
    epoch: int | None = None,
    on_scored: Callable[[int, int], None] | None = None,
) -> list[Scored]:
    """score_perplexities as the search scores cells: 1 - ln(ppl) / ln(V) (metric.py), which
    ranks as perplexity does, with the perplexity and the vocabulary beside it; a cell whose
    state diverged has no score."""
    ppls = score_perplexities(space, cfg, archs, corpus, work_dir, epoch=epoch, on_scored=on_scored)
    return [
        Scored(perplexity_score(p, corpus.vocab), {"dev_perplexity": p, "vocab": corpus.vocab})
        if math.isfinite(p)
        else Scored(None, {"dev_perplexity": None}, DIVERGED)
        for p in ppls
    ]
