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
PTB it spreads well (ppl 60 -> 0.555, ppl 80 -> 0.524). The result also carries
dev_perplexity and test_perplexity.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp import validate
from nao_kfp.child import runtime
from nao_kfp.child.data import PTB_FILES
from nao_kfp.child.rnn import RnnLM, RnnSpec
from nao_kfp.child.runtime import ChildDiverged
from nao_kfp.config import ChildConfig
from nao_kfp.errors import ConfigError
from nao_kfp.results import ChildResult, EpochRecord, TrainState
from nao_kfp.spaces import Arch, RnnArch, SearchSpace

Log = Callable[[str], None]
EOS, UNK = "<eos>", "<unk>"
MAX_CORPUS_BYTES = 1 << 30  # each of ptb.{train,valid,test}.txt (Penn Treebank's is 5 MB)


def read_corpus(data_dir: Path, max_vocab: int = 0) -> tuple[list[str], list[torch.Tensor]]:
    """Vocabulary (train-set words by frequency, ties by first use) and the three splits as ids."""
    texts = []
    for name in PTB_FILES:
        path = data_dir / name
        if not path.is_file():
            raise ConfigError(
                f"child.data_dir: {data_dir} has no {name} (expected {', '.join(PTB_FILES)})"
            )
        text = validate.read_text(path, f"child.data_dir: {path}", ConfigError, MAX_CORPUS_BYTES)
        texts.append([w for line in text.splitlines() for w in [*line.split(), EOS]])
    counts = Counter(texts[0])
    words = sorted(counts, key=lambda w: -counts[w])  # stable sort keeps first-use order on ties
    if max_vocab and len(words) > max_vocab:
        words = [w for w in words if w != UNK][: max_vocab - 1] + [UNK]
    if UNK not in words:
        words.append(UNK)
    index = {w: i for i, w in enumerate(words)}
    unk = index[UNK]
    ids = [torch.tensor([index.get(w, unk) for w in t], dtype=torch.int64) for t in texts]
    return words, ids


def corpus_batches(
    cfg: ChildConfig,
) -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor]:
    """child.data_dir's corpus as a child trains on it: the vocabulary, then the training
    (child.train_subset tokens, child.batch_size streams), validation and test streams."""
    r = cfg.rnn
    words, (train_ids, valid_ids, test_ids) = read_corpus(Path(cfg.data_dir), r.max_vocab)
    if cfg.train_subset:
        train_ids = train_ids[: cfg.train_subset]
    train = batchify(train_ids, cfg.batch_size)
    return (
        words,
        train,
        batchify(valid_ids, r.eval_batch_size),
        batchify(test_ids, r.eval_batch_size),
    )


def batchify(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """Cut a token stream into `batch` parallel streams: T×batch."""
    steps = len(ids) // batch
    if steps < 2:
        raise ConfigError(
            f"child.batch_size: {batch} streams leave fewer than 2 tokens each ({len(ids)} tokens)"
        )
    return ids[: steps * batch].view(batch, steps).t().contiguous()


def perplexity_score(ppl: float, vocab: int) -> float:
    return min(max(1.0 - math.log(ppl) / math.log(vocab), 0.0), 1.0)


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
    return {
        "dev_accuracy": perplexity_score(ppls[-1], len(words)),
        "best_dev_accuracy": perplexity_score(min(ppls), len(words)),
        "dev_perplexity": ppls[-1],
        "best_dev_perplexity": min(ppls),
        "test_perplexity": test_ppl,
        "params": sum(p.numel() for p in net.parameters()),
        "macs": rnn_macs(spec, arch),
        "seconds": round(state["seconds"], 3),
        "epochs": cfg.epochs,
        "device": device.type,
        "vocab": len(words),
    }


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
