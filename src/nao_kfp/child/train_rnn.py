"""Training an enas-rnn child: a word-level language model on PTB-format text.

The paper's recipe from config: plain SGD at child.lr_max (10), gradient clipping child.grad_clip
(0.25), weight decay child.weight_decay (5e-7), batches of child.batch_size sequences cut in
child.rnn.bptt steps; the learning rate is multiplied by child.rnn.lr_decay each epoch from epoch
child.rnn.lr_decay_start on (child.lr_min does not apply here). child.train_subset, when set,
keeps only that many training tokens (for short runs).

The search needs one number where higher is better: dev_accuracy = 1 - ln(ppl) / ln(V), clipped
to [0, 1], with ppl the validation perplexity and V the vocabulary size. It is the share of a
uniform guess's log-loss that the model removes: strictly decreasing in perplexity (so it ranks
exactly as perplexity does), 0 for a model no better than uniform and 1 for a perfect one, and on
PTB it spreads well (ppl 60 -> 0.555, ppl 80 -> 0.524); metric.py maps it back. The result also
carries dev_perplexity and test_perplexity (test_accuracy: the latter's score).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp.child import runtime
from nao_kfp.child.data import corpus_batches
from nao_kfp.child.rnn import RnnLM, RnnSpec
from nao_kfp.child.runtime import ChildDiverged
from nao_kfp.config import ChildConfig
from nao_kfp.metric import perplexity_score
from nao_kfp.results import ChildResult, EpochRecord, TrainState
from nao_kfp.spaces import Arch, RnnArch, SearchSpace

Log = Callable[[str], None]


def evaluate_ppl(net: RnnLM, data: torch.Tensor, bptt: int, device: torch.device) -> float:
    net.eval()
    hidden = net.init_hidden(data.size(1)).to(device)
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            x, y = data[i : i + bptt].to(device), data[i + 1 : i + 1 + bptt].to(device)
            x = x[: len(y)]
            logits, hidden = net(x, hidden)
            total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
            count += y.numel()
    return math.exp(total / count)


def train_rnn(
    space: SearchSpace[Arch],
    arch: RnnArch,
    cfg: ChildConfig,
    out_dir: Path,
    *,
    seed: int,
    on_checkpoint: Callable[[Path], None] | None,
    on_epoch: Callable[[EpochRecord], None] | None,
    log: Log,
) -> ChildResult:
    r = cfg.rnn
    device = runtime.pick_device(cfg.device)
    words, train, valid, test = corpus_batches(cfg)
    spec = RnnSpec(
        vocab=len(words), embedding_size=r.embedding_size, hidden_size=r.hidden_size,
        dropout=r.dropout, dropout_h=r.dropout_h, dropout_x=r.dropout_x,
        dropout_i=r.dropout_i, dropout_e=r.dropout_e,
    )  # fmt: skip
    arch_json = space.to_json(arch)
    ckpt_path = out_dir / runtime.CHECKPOINT
    with runtime.deterministic(device.type == "cpu"):
        runtime.seed_everything(seed)
        net = RnnLM(arch, spec).to(device)
        opt = torch.optim.SGD(
            net.parameters(), lr=cfg.lr_max, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
        state: TrainState = {"epoch": 0, "history": [], "seconds": 0.0}
        resumed = runtime.load_checkpoint(ckpt_path, arch_json)
        if resumed is not None:
            net.load_state_dict(resumed["model"])
            opt.load_state_dict(resumed["optimizer"])
            runtime.set_rng_state(resumed["rng"])
            state = runtime.resumed_state(resumed)
            log(f"resuming at epoch {state['epoch'] + 1} of {cfg.epochs} from {ckpt_path}")
        for epoch in range(state["epoch"], cfg.epochs):
            t0 = time.perf_counter()
            torch.manual_seed(runtime.epoch_seed(seed, epoch, "torch"))
            lr = cfg.lr_max * r.lr_decay ** max(0, epoch + 1 - r.lr_decay_start)
            for group in opt.param_groups:
                group["lr"] = lr
            train_loss = _train_epoch(net, opt, train, r.bptt, cfg.grad_clip, device)
            if not math.isfinite(train_loss):
                raise ChildDiverged(
                    f"child: training loss is {train_loss} in epoch {epoch + 1}; the network diverged"
                )
            dev_ppl = evaluate_ppl(net, valid, r.bptt, device)
            state["seconds"] += time.perf_counter() - t0
            state["history"].append(
                {"epoch": epoch + 1, "lr": lr, "train_perplexity": math.exp(min(train_loss, 50.0)),
                 "dev_perplexity": dev_ppl}
            )  # fmt: skip
            state["epoch"] = epoch + 1
            log(f"epoch {epoch + 1}/{cfg.epochs} lr {lr:.3g} train ppl {math.exp(min(train_loss, 50.0)):.1f} "
                f"dev ppl {dev_ppl:.1f}")  # fmt: skip
            runtime.save_checkpoint(
                ckpt_path,
                {"arch": arch_json, "space": space.name, "spec": dataclasses.asdict(spec),
                 "model": net.state_dict(), "optimizer": opt.state_dict(),
                 "rng": runtime.rng_state(), **state},
            )  # fmt: skip
            if on_checkpoint is not None:
                on_checkpoint(ckpt_path)
            if on_epoch is not None:
                on_epoch(state["history"][-1])
        test_ppl = evaluate_ppl(net, test, r.bptt, device)
    ppls = [h["dev_perplexity"] for h in state["history"]]
    return ChildResult(
        dev_accuracy=perplexity_score(ppls[-1], len(words)),
        best_dev_accuracy=perplexity_score(min(ppls), len(words)),
        test_accuracy=perplexity_score(test_ppl, len(words)),
        dev_perplexity=ppls[-1],
        best_dev_perplexity=min(ppls),
        test_perplexity=test_ppl,
        params=sum(p.numel() for p in net.parameters()),
        macs=rnn_macs(spec, arch),
        seconds=round(state["seconds"], 3),
        epochs=cfg.epochs,
        device=device.type,
        vocab=len(words),
    )


def _train_epoch(
    net: RnnLM,
    opt: torch.optim.Optimizer,
    data: torch.Tensor,
    bptt: int,
    clip: float,
    device: torch.device,
) -> float:
    net.train()
    hidden = net.init_hidden(data.size(1)).to(device)
    total, count = 0.0, 0
    for i in range(0, data.size(0) - 1, bptt):
        x, y = data[i : i + bptt].to(device), data[i + 1 : i + 1 + bptt].to(device)
        x = x[: len(y)]
        hidden = hidden.detach()  # truncated backpropagation through time
        logits, hidden = net(x, hidden)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip > 0:
            nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        total += float(loss.detach()) * y.numel()
        count += y.numel()
    return total / count


def rnn_macs(spec: RnnSpec, arch: RnnArch) -> int:
    """Multiply-adds per token: the cell's matrices and the decoder (embedding lookups are free)."""
    h = spec.hidden_size
    cell = (spec.embedding_size + h) * 2 * h + (len(arch.nodes) - 1) * h * 2 * h
    return cell + h * spec.vocab
