"""Child networks: train-step throughput, a short real-data CNN run, a short PTB run; prints numbers.

    .venv/bin/python benchmarks/bench_child.py throughput [--device cpu|cuda] [--batch 32] [--steps 3]
    .venv/bin/python benchmarks/bench_child.py cifar --data /tmp/cifar10-jpg [--epochs 3] [--subset 5000]
    .venv/bin/python benchmarks/bench_child.py ptb --data /work/shared/data/ptb [--epochs 1] [--tokens 100000]

throughput: images/s of forward+backward+SGD step of NAONet-A (N=6, F=36) on 32×32 input (on CUDA
also bf16 autocast + channels_last vs fp32). cifar: a small network (N=1, F=16) on the shared CIFAR-10
JPEGs (extract cifar10-jpg.tar.gz first): staging time, dev accuracy, wall time. ptb: an enas-rnn
child on PTB: dev/test perplexity, wall time. Development data only: tests never read it.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from nao_kfp.child import NetSpec, build_network, prepare_data, train_child
from nao_kfp.config import load_config
from nao_kfp.spaces import get_space

NAONET_A = "0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7 0 7 1 13 0 6 0 14 0 9 1 10 0 14 2 6 1 11 0 7"
NAONET_B = "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3 1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2"
ENAS_RNN = "tanh | 1 relu | 1 relu | 1 identity | 1 tanh | 2 sigmoid | 4 tanh | 3 relu | 6 relu | 9 relu | 10 tanh | 7 identity"


def train_step(
    net: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, amp: bool
) -> None:
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
        logits, aux = net(x)
        loss = F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def throughput(args: argparse.Namespace) -> None:
    space = get_space("nasnet")
    arch = space.parse_official(NAONET_A)
    device = torch.device(args.device)
    modes = [("fp32", False)] + ([("bf16+channels_last", True)] if device.type == "cuda" else [])
    for name, amp in modes:
        torch.manual_seed(0)
        net = build_network(space, arch, NetSpec(layers=6, channels=36, aux_head=True)).to(device)
        if amp:
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        x = torch.randn(args.batch, 3, 32, 32, device=device)
        y = torch.randint(0, 10, (args.batch,), device=device)
        if amp:
            x = x.contiguous(memory_format=torch.channels_last)

        net.train()
        train_step(net, opt, x, y, amp)  # warm-up (allocator, cuDNN autotune)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            train_step(net, opt, x, y, amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        print(json.dumps({
            "bench": "throughput", "net": "NAONet-A N=6 F=36", "device": device.type, "mode": name,
            "threads": torch.get_num_threads(), "batch": args.batch, "steps": args.steps,
            "images_per_s": round(args.batch * args.steps / dt, 2), "seconds": round(dt, 2),
        }))  # fmt: skip


def cifar(args: argparse.Namespace) -> None:
    space = get_space("enas")
    arch = space.parse_official(NAONET_B)
    overrides = [
        "search.space=enas", "child.dataset=image-folder", f"child.data_dir={args.data}",
        "child.dev_size=1000", f"child.train_subset={args.subset}", "child.layers=1",
        "child.channels=16", f"child.epochs={args.epochs}", "child.batch_size=64",
        "child.lr_max=0.05", "child.cutout=8", f"child.device={args.device}",
        f"child.cpu_threads={args.threads}",
    ]  # fmt: skip
    cfg = load_config(None, overrides).child
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        staged = prepare_data(cfg, Path(tmp) / "data")
        stage_s = time.perf_counter() - t0
        cfg = load_config(None, [*overrides, f"child.data_dir={staged}"]).child
        t0 = time.perf_counter()
        result = train_child(space, arch, cfg, Path(tmp) / "run", seed=0, log=print)
        wall = time.perf_counter() - t0
    print(json.dumps({"bench": "cifar10-jpg", "net": "NAONet-B N=1 F=16", "stage_seconds": round(stage_s, 1),
                      "wall_seconds": round(wall, 1), **result.to_json()}))  # fmt: skip


def ptb(args: argparse.Namespace) -> None:
    space = get_space("enas-rnn")
    arch = space.parse(ENAS_RNN)
    cfg = load_config(None, [
        "search.space=enas-rnn", "child.dataset=ptb", f"child.data_dir={args.data}",
        f"child.epochs={args.epochs}", f"child.train_subset={args.tokens}", "child.batch_size=32",
        "child.lr_max=20", "child.momentum=0", "child.grad_clip=0.25", "child.weight_decay=5e-7",
        f"child.device={args.device}", f"child.cpu_threads={args.threads}",
        f"child.rnn.embedding_size={args.hidden}", f"child.rnn.hidden_size={args.hidden}",
        "child.rnn.dropout=0.2", "child.rnn.dropout_h=0.1", "child.rnn.dropout_x=0.1",
        "child.rnn.dropout_i=0.1", "child.rnn.dropout_e=0.0", "child.rnn.eval_batch_size=64",
    ]).child  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train_child(space, arch, cfg, Path(tmp), seed=0, log=print)
        wall = time.perf_counter() - t0
    print(json.dumps({"bench": "ptb", "hidden": args.hidden, "train_tokens": args.tokens,
                      "wall_seconds": round(wall, 1), **result.to_json()}))  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--steps", type=int, default=3)
    c = sub.add_parser("cifar")
    c.add_argument("--data", default="/tmp/cifar10-jpg")
    c.add_argument("--epochs", type=int, default=3)
    c.add_argument("--subset", type=int, default=5000)
    r = sub.add_parser("ptb")
    r.add_argument("--data", default="/work/shared/data/ptb")
    r.add_argument("--epochs", type=int, default=1)
    r.add_argument("--tokens", type=int, default=100000)
    r.add_argument("--hidden", type=int, default=256)
    for q in (t, c, r):
        q.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        q.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = p.parse_args()
    random.seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    {"throughput": throughput, "cifar": cifar, "ptb": ptb}[args.what](args)


if __name__ == "__main__":
    main()
