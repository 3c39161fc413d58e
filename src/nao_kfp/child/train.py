"""Training a child network: `train_child` for every space, the image loop here.

The image recipe (paper §4, appendix 7.1), all from ChildConfig: SGD with momentum, one cosine
period from lr_max to lr_min (stepped per batch), weight decay, gradient clipping, drop-path,
cutout, the auxiliary head. The dev accuracy (a fraction in [0, 1]) is what the search sees; the
test accuracy is only reported. After every epoch the model, optimizer, scheduler, RNG states and
history go to out_dir/checkpoint.pt; a run that finds one resumes from it and ends with the
same weights as an uninterrupted run (CPU, same seed).

Images stay in memory as tensors; batches are drawn, augmented and normalized on the main process
from per-epoch seeded generators (child.num_workers is not used: worker processes would only add
inter-process copies of data that is already in memory). The result's `params` excludes the
auxiliary head, the papers' convention.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp.child import data as image_data
from nao_kfp.child import runtime
from nao_kfp.child.cnn import CellNetwork, NetSpec
from nao_kfp.child.nb201net import Nb201Network
from nao_kfp.child.params import build_network, count_macs, net_spec
from nao_kfp.child.runtime import ChildDiverged
from nao_kfp.config import ChildConfig
from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.results import ChildResult, EpochRecord, TrainState
from nao_kfp.spaces import Arch, CellArch, Nb201Arch, RnnArch, SearchSpace

Log = Callable[[str], None]
EVAL_BATCH_FACTOR = 2
# Images this large get the ImageNet mobile stem (three stride-2 convs, 224 -> 28) instead of
# CIFAR's full-resolution stem, whose cells would otherwise run at the input resolution.
IMAGENET_STEM_FROM = 128  # no activations kept for backward: evaluation batches can be larger


def train_child(
    space: SearchSpace[Arch],
    arch: Arch,
    cfg: ChildConfig,
    out_dir: Path,
    *,
    seed: int,
    on_checkpoint: Callable[[Path], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    log: Log | None = None,
) -> ChildResult:
    """Train the child of `arch` and return {dev_accuracy, best_dev_accuracy, params, macs,
    seconds, epochs, device, ...}; also written to out_dir/result.json (returned as is when it
    already exists). For enas-rnn see train_rnn (dev_accuracy is a perplexity score there).
    `on_epoch` gets each epoch's record (loss, dev accuracy or perplexity) as it finishes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = runtime.read_result(out_dir)
    if done is not None:
        return done
    log = log or (lambda _msg: None)
    with runtime.cpu_threads(cfg.cpu_threads):
        result = _train(
            space, arch, cfg, out_dir, seed=seed, on_checkpoint=on_checkpoint,
            on_epoch=on_epoch, log=log,
        )  # fmt: skip
    runtime.write_result(out_dir, result)
    return result


def _train(
    space: SearchSpace[Arch],
    arch: Arch,
    cfg: ChildConfig,
    out_dir: Path,
    *,
    seed: int,
    on_checkpoint: Callable[[Path], None] | None,
    on_epoch: Callable[[EpochRecord], None] | None,
    log: Log,
) -> ChildResult:
    if isinstance(arch, RnnArch):
        if cfg.dataset != "ptb":
            raise ConfigError(
                f"child.dataset: {cfg.dataset!r} cannot train an enas-rnn child (ptb can)"
            )
        from nao_kfp.child.train_rnn import train_rnn

        result = train_rnn(
            space, arch, cfg, out_dir, seed=seed, on_checkpoint=on_checkpoint,
            on_epoch=on_epoch, log=log,
        )  # fmt: skip
    elif isinstance(arch, (CellArch, Nb201Arch)):
        if cfg.dataset == "ptb":
            raise ConfigError(f"child.dataset: ptb needs the enas-rnn space, not {space.name}")
        result = _train_cnn(
            space, arch, cfg, out_dir, seed=seed, on_checkpoint=on_checkpoint,
            on_epoch=on_epoch, log=log,
        )  # fmt: skip
    else:
        raise ArchError(
            f"space: {space.name} has no trainable child network (nasnet, enas, nb201 and enas-rnn do)"
        )
    return result


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA when child.amp is on (the supernet trains with it too)."""
    if device.type == "cuda" and amp:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def evaluate(
    net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device, amp: bool
) -> float:
    """Top-1 accuracy as a fraction."""
    net.eval()
    correct = 0
    with torch.no_grad(), autocast(device, amp):
        for i in range(0, len(y), batch):
            xb = x[i : i + batch].to(device)
            if device.type == "cuda" and amp:
                xb = xb.contiguous(memory_format=torch.channels_last)
            logits, _ = net(xb)
            correct += int((logits.argmax(1).cpu() == y[i : i + batch]).sum())
    return correct / max(len(y), 1)


def _train_cnn(
    space: SearchSpace[Arch],
    arch: CellArch | Nb201Arch,
    cfg: ChildConfig,
    out_dir: Path,
    *,
    seed: int,
    on_checkpoint: Callable[[Path], None] | None,
    on_epoch: Callable[[EpochRecord], None] | None,
    log: Log,
) -> ChildResult:
    device = runtime.pick_device(cfg.device)
    amp = cfg.amp and device.type == "cuda"
    images = image_data.load_images(cfg)
    split, class_names = image_data.split(images, cfg), list(images.classes)
    del images  # the split holds copies of what training needs
    in_ch, size = split.train_x.shape[1], split.train_x.shape[2]
    spec = net_spec(
        "image-folder", layers=cfg.layers, channels=cfg.channels, aux_head=cfg.aux_head,
        classes=split.classes, in_channels=in_ch, input_size=size, dropout=cfg.dropout,
        imagenet=size >= IMAGENET_STEM_FROM,
    )  # fmt: skip
    arch_json = space.to_json(arch)
    ckpt_path = out_dir / runtime.CHECKPOINT
    with runtime.deterministic(device.type == "cpu"):
        runtime.seed_everything(seed)
        net = build_network(space, arch, spec).to(device)
        assert isinstance(net, (CellNetwork, Nb201Network))
        if amp:
            net = net.to(memory_format=torch.channels_last)
        steps_per_epoch = math.ceil(len(split.train_y) / cfg.batch_size)
        opt = torch.optim.SGD(
            net.parameters(), lr=cfg.lr_max, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=cfg.epochs * steps_per_epoch, eta_min=cfg.lr_min
        )
        state: TrainState = {"epoch": 0, "history": [], "seconds": 0.0}
        resumed = runtime.load_checkpoint(ckpt_path, arch_json)
        if resumed is not None:
            net.load_state_dict(resumed["model"])
            opt.load_state_dict(resumed["optimizer"])
            sched.load_state_dict(resumed["scheduler"])
            runtime.set_rng_state(resumed["rng"])
            state = runtime.resumed_state(resumed)
            log(f"resuming at epoch {state['epoch'] + 1} of {cfg.epochs} from {ckpt_path}")
        flip = cfg.dataset != "digits"  # a mirrored digit is another glyph
        pad = max(size // 8, 1)  # 4 pixels on 32×32 as in the paper
        eval_batch = cfg.batch_size * EVAL_BATCH_FACTOR
        for epoch in range(state["epoch"], cfg.epochs):
            t0 = time.perf_counter()
            torch.manual_seed(runtime.epoch_seed(seed, epoch, "torch"))
            g = torch.Generator().manual_seed(runtime.epoch_seed(seed, epoch, "data"))
            net.train()
            net.set_drop_path(cfg.drop_path, (epoch + 1) / cfg.epochs)
            perm = torch.randperm(len(split.train_y), generator=g)
            total_loss, seen = 0.0, 0
            for i in range(0, len(perm), cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                xb = image_data.augment(
                    split.train_x[idx], g, pad=pad, flip=flip, cutout=cfg.cutout
                )
                xb, yb = xb.to(device), split.train_y[idx].to(device)
                if amp:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with autocast(device, amp):
                    logits, aux = net(xb)
                    loss = F.cross_entropy(logits, yb)
                    if aux is not None:
                        loss = loss + cfg.aux_weight * F.cross_entropy(aux, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                opt.step()
                sched.step()
                total_loss += float(loss.detach()) * len(idx)
                seen += len(idx)
            if not math.isfinite(total_loss):  # before a poisoned checkpoint is written
                raise ChildDiverged(
                    f"child: training loss is {total_loss / seen} in epoch {epoch + 1} "
                    f"(child.lr_max {cfg.lr_max}); the network diverged"
                )
            dev_acc = evaluate(net, split.dev_x, split.dev_y, eval_batch, device, amp)
            state["seconds"] += time.perf_counter() - t0
            state["history"].append(
                {"epoch": epoch + 1, "loss": total_loss / seen, "dev_accuracy": dev_acc}
            )
            state["epoch"] = epoch + 1
            log(
                f"epoch {epoch + 1}/{cfg.epochs} loss {total_loss / seen:.4f} dev accuracy {dev_acc:.4f}"
            )
            runtime.save_checkpoint(
                ckpt_path,
                {"arch": arch_json, "space": space.name, "spec": dataclasses.asdict(spec),
                 "normalize": {"mean": list(split.mean), "std": list(split.std)},
                 "class_names": class_names, "dataset": cfg.dataset,
                 "model": net.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict(), "rng": runtime.rng_state(), **state},
            )  # fmt: skip
            if on_checkpoint is not None:
                on_checkpoint(ckpt_path)
            if on_epoch is not None:
                on_epoch(state["history"][-1])
        test_acc = evaluate(net, split.test_x, split.test_y, eval_batch, device, amp)
    params = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("aux_head."))
    devs = [h["dev_accuracy"] for h in state["history"]]
    return ChildResult(
        dev_accuracy=devs[-1],
        best_dev_accuracy=max(devs),
        test_accuracy=test_acc,
        params=params,
        macs=_macs(space, arch, spec),
        seconds=round(state["seconds"], 3),
        epochs=cfg.epochs,
        device=device.type,
        train_size=len(split.train_y),
        dev_size=len(split.dev_y),
    )


def _macs(space: SearchSpace[Arch], arch: CellArch | Nb201Arch, spec: NetSpec) -> int:
    with torch.device("meta"):
        net = build_network(space, arch, dataclasses.replace(spec, aux_head=False))
    return count_macs(net, spec)
