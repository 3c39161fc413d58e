"""Weight sharing: supernet epoch time, and how well shared-weight scores rank architectures.

    .venv/bin/python benchmarks/bench_supernet.py epoch-time [--space enas,nb201] [--layers 1]
        [--channels 8] [--images 1024] [--batch 64] [--threads 1] [--device cuda]
    # the paper's NAO-WS setting on a GPU (bf16 autocast + channels_last), projected to 150 epochs
    .venv/bin/python benchmarks/bench_supernet.py epoch-time --device cuda --space enas \
        --layers 3 --channels 20 --batch 128 --images 12800 --warmup 20
    .venv/bin/python benchmarks/bench_supernet.py nb201 --data /tmp/cifar10-jpg \\
        [--table /work/shared/data/nb201-sample/nb201_cifar10_sample725.csv] [--layers 1]
        [--channels 8] [--epochs 10] [--train-images 10000] [--dev-images 500]
        [--bn running,recalibrate,train] [--out runs/bench-supernet-nb201] [--rerank-top 3]
    .venv/bin/python benchmarks/bench_supernet.py bn-sweep --data ... --out <the nb201 run's --out>
        --layers 1 --channels 8 --epochs 15 --train-images 25000 [--cells 200]
        [--grid "bn=running,dev_batches=1;bn=recalibrate,bn_batches=16"]
    .venv/bin/python benchmarks/bench_supernet.py enas --data /tmp/cifar10-jpg [--archs 10]
        [--pool 50] [--epochs 6] [--train-images 5000] [--dev-images 500] [--child-epochs 2]
    .venv/bin/python benchmarks/bench_supernet.py proxies --data /tmp/cifar10-jpg [--cells 0]
        [--layers 5] [--channels 16] [--batch 64]

epoch-time: seconds per supernet training epoch (forward, backward, SGD step, one architecture
per minibatch, random 32×32 tensors), extrapolated to the full epoch of each protocol (45,000
images for NAO-WS, 25,000 for NAS-Bench-201).
nb201: the NAS-Bench-201 protocol on CIFAR-10 (half of the 50k training images train, the other
half validate; --train-images of the first half here) with the 725 sampled cells as the pool;
for each BatchNorm mode the Kendall tau between the supernet's scores and the table's `valid`,
the top-scored cell's standard string and its true rank. Parameter count as a baseline score.
bn-sweep: other scoring settings (BN mode, dev batches, recalibration batches) on the supernet
of a finished nb201 run (same size and data flags), for a seeded subset of the table's cells.
enas: a supernet trained on a random pool; for --archs of them the Kendall tau between the
shared-weight dev accuracy and the dev accuracy after --child-epochs of training from scratch.

proxies: the baselines a supernet's ranking must beat, on the same cells (the table's): each
cell's parameter count, SynFlow and NASWOT score (the benchmark's network, N=5 C=16, freshly
initialized; NASWOT on --batch training images), their pairwise rank sums, and per score the
Kendall tau against `valid` and the true ranks of its top 5.

--data: the extracted shared CIFAR-10 JPEGs (train/<class>/, test/<class>/) or a directory
with a staged images-cifar10.pt. Work directories under --out resume after an interruption.
Development data only: tests never read it.

Measured on the shared 2-core CPU (1 thread, nice 19, other jobs running; BN modes compared in
src/nao_kfp/child/supernet_train.py):
  epoch-time  enas N=1 F=8: 68-104 images/s (a 45k epoch 7-11 min); N=3 F=20 (the preset):
              15 images/s (51 min). nb201 N=1 C=8: 415-760 images/s (a 25k epoch 33-60 s);
              N=5 C=16 (the preset): 66 images/s (6.3 min).
  nb201       --layers 1 --channels 8 --epochs 15 --train-images 25000 --dev-images 500
              --rerank-top 3 --rerank-epochs 2: 89 s per epoch, final train accuracy 0.53;
              Kendall tau vs `valid` over the 725 cells: running 0.31, recalibrate 0.21,
              train 0.16 (parameter count alone: 0.56). Top-scored cell (running):
              |nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_3x3~0|skip_connect~1|none~2|
              valid 88.22, rank 266 of 725 (table best 91.36, mean 84.77); the rerank of the top
              3 kept it. Scoring 725 cells: 3-20 min per mode (load-dependent).
  proxies     the 725 cells, N=5 C=16, NASWOT on 64 images, 1 thread: 998 s (1.4 s a cell).
              Kendall tau vs `valid`: params 0.562, SynFlow 0.635, NASWOT 0.598, rank sums
              NASWOT+SynFlow 0.653, SynFlow+params 0.642, NASWOT+params 0.632 (the supernet
              above, `running`: 0.31). True ranks of the top 5 (of 725): SynFlow 23, 4, 5, 75, 2;
              SynFlow+params 23, 4, 5, 2, 1 (mean valid 91.00; table best 91.36).
  enas        --pool 10 --archs 10 --epochs 10 --lr 0.05 --train-images 5000 --dev-images 500
              --child-epochs 2: 114 s per epoch, final train accuracy 0.27; tau vs stand-alone
              dev accuracy (0.35-0.44): train 0.49, recalibrate 0.36, running 0.07. With
              --pool 50 --epochs 6 (lr 0.025) the supernet reached 0.16 train accuracy and the
              taus were noise (train -0.16, recalibrate 0.04, running 0.07).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from scipy.stats import kendalltau

from nao_kfp.child import (
    NetSpec,
    build_supernet,
    count_params,
    load_split,
    score_archs,
    train_child,
    train_supernet,
)
from nao_kfp.child.proxies import naswot, synflow
from nao_kfp.config import load_config
from nao_kfp.final import best_of, rerank
from nao_kfp.spaces import get_space
from nao_kfp.store import LocalStore

TABLE = "/work/shared/data/nb201-sample/nb201_cifar10_sample725.csv"
FULL_EPOCH = {"enas": 45000, "nb201": 25000}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _train_step(net: Any, opt: Any, x: Any, y: Any, arch: Any, amp: bool) -> None:
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        loss = F.cross_entropy(net(x, arch), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def epoch_time(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp = device.type == "cuda" and not args.no_amp  # bf16 autocast + channels_last, as a search
    layout = torch.channels_last if amp else torch.contiguous_format
    for name in args.space.split(","):
        space = get_space(name)
        torch.manual_seed(0)
        net = build_supernet(space, NetSpec(layers=args.layers, channels=args.channels))
        net = net.to(device).to(memory_format=layout)  # type: ignore[call-overload]
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=3e-4)
        rng = random.Random(0)
        steps = args.images // args.batch
        x = torch.randn(args.batch, 3, 32, 32, device=device).contiguous(memory_format=layout)
        y = torch.randint(0, 10, (args.batch,), device=device)
        for _ in range(args.warmup):  # kernels chosen, caches filled: not timed
            _train_step(net, opt, x, y, space.sample(rng), amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            _train_step(net, opt, x, y, space.sample(rng), amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
        per_image = (time.perf_counter() - t0) / (steps * args.batch)
        epoch_s = per_image * FULL_EPOCH[name]
        print(
            json.dumps(
                {"space": name, "layers": args.layers, "channels": args.channels,
                 "batch": args.batch, "threads": args.threads, "device": str(device),
                 "amp_bf16_channels_last": amp,
                 "params": sum(p.numel() for p in net.parameters()),
                 "images_per_s": round(1 / per_image, 1),
                 "epoch_s": round(epoch_s, 1), "epoch_images": FULL_EPOCH[name],
                 # supernet training only; scoring the pool and the controller add little
                 f"projected_{args.search_epochs}_epochs_h": round(
                     epoch_s * args.search_epochs / 3600, 2)}
            )
        )  # fmt: skip


def _overrides(args: argparse.Namespace, dev_size: int) -> list[str]:
    return [
        f"child.data_dir={args.data}", f"child.dev_size={dev_size}",
        f"child.train_subset={args.train_images}", "child.device=cpu",
        f"child.cpu_threads={args.threads}", f"supernet.layers={args.layers}",
        f"supernet.channels={args.channels}", f"supernet.epochs={args.epochs}",
        f"supernet.rounds_every={args.epochs}", "search.rounds=1",
        f"supernet.batch_size={args.batch}",
        f"supernet.eval_batch_size={args.dev_images}", "supernet.dev_batches=1",
        f"supernet.bn_batches={args.bn_batches}",
        *([f"supernet.lr_max={args.lr}"] if args.lr else []),
    ]  # fmt: skip


def _tau(a: list[float], b: list[float]) -> float:
    return round(float(kendalltau(a, b).statistic), 4)


def _score_modes(space: Any, cfg: Any, archs: list, data: Any, work: Path, modes: str) -> dict:
    """{bn: (scores, seconds)}, kept in work/scores-<bn>.json so that a re-run skips them."""
    out = {}
    for bn in modes.split(","):
        path = work / f"scores-{bn}.json"
        if path.is_file():
            out[bn] = tuple(json.loads(path.read_text()))
            continue
        t0 = time.perf_counter()
        out[bn] = (score_archs(space, cfg, archs, data, work, bn=bn), time.perf_counter() - t0)
        path.write_text(json.dumps(out[bn]))
        log(f"scored {len(archs)} archs with bn={bn} in {out[bn][1]:.0f}s")
    return out


def nb201(args: argparse.Namespace) -> None:
    space = get_space("nb201")
    with open(args.table) as f:
        rows = [(space.parse(r["arch"]), float(r["valid"])) for r in csv.DictReader(f)]
    if args.cells:  # a seeded subset of the table, for a quick check
        rows = random.Random(args.seed).sample(rows, args.cells)
    archs, valid = [a for a, _ in rows], [v for _, v in rows]
    cfg = load_config("nao-ws-nb201", _overrides(args, 25000))
    data = load_split(cfg.child)
    log(f"train {len(data.train_y)} / dev {len(data.dev_y)} images, pool {len(archs)} cells")
    work = Path(args.out) / "supernet"
    train_on = archs  # the lever "sampling": the scored cells, or --uniform cells of the space
    if args.uniform:
        train_on = space.sample_unique(args.uniform, random.Random(args.seed), exclude=set())
    trained = train_supernet(
        space, cfg, train_on, data, work, epochs_to=args.epochs, seed=args.seed, log=log
    )
    params = [
        float(count_params(space, a, layers=args.layers, channels=args.channels)["params"])
        for a in archs
    ]
    result: dict[str, Any] = {
        "bench": "nb201", "layers": args.layers, "channels": args.channels,
        "epochs": args.epochs, "train_images": len(data.train_y), "dev_images": args.dev_images,
        "cells": len(archs), "threads": args.threads, "supernet_seconds": trained["seconds"],
        "epoch_s": round(trained["seconds"] / max(len(trained["history"]), 1), 1),
        "final_train_accuracy": trained["history"][-1]["train_accuracy"],
        "tau_params": _tau(params, valid), "modes": {},
    }  # fmt: skip
    ranked = sorted(range(len(valid)), key=lambda i: -valid[i])
    result_scores = {}
    for bn, (scores, seconds) in _score_modes(space, cfg, archs, data, work, args.bn).items():
        result_scores[bn] = scores
        best = max(range(len(scores)), key=lambda i: scores[i])
        top5 = sorted(range(len(scores)), key=lambda i: -scores[i])[:5]
        result["modes"][bn] = {
            "tau": _tau(scores, valid), "seconds": round(seconds, 1),
            "mean_score": round(sum(scores) / len(scores), 4),
            "best_cell": space.to_string(archs[best]), "best_cell_valid": valid[best],
            "best_cell_true_rank": ranked.index(best) + 1,
            "top5_mean_valid": round(sum(valid[i] for i in top5) / 5, 2),
        }  # fmt: skip
    if args.proxies:  # the lever "combine with a proxy": supernet z + proxies' z (z over cells)
        result["combined"] = _combined(space, archs, valid, result_scores, args.proxies.split(","))
    if args.rerank_top:  # the final selection: the top cells retrained from scratch
        scores = result_scores[args.bn.split(",")[0]]
        top = sorted(range(len(scores)), key=lambda i: -scores[i])[: args.rerank_top]
        child = dataclasses.replace(
            cfg.child, layers=args.layers, channels=args.channels, cpu_threads=args.threads,
            epochs=args.rerank_epochs,
        )  # fmt: skip
        out = Path(args.out) / "rerank"
        reranked = rerank(
            space, [archs[i] for i in top], child, out, seed=args.seed,
            store=LocalStore(out / "store"),
        )  # fmt: skip
        pick = best_of(reranked)
        result["rerank"] = {
            "by": args.bn.split(",")[0], "epochs": args.rerank_epochs,
            "cells": [{"cell": r.arch, "dev_accuracy": r.dev_accuracy, "valid": valid[i]}
                      for i, r in zip(top, reranked, strict=True)],
            "selected": reranked[pick].arch, "selected_valid": valid[top[pick]],
            "selected_true_rank": ranked.index(top[pick]) + 1,
        }  # fmt: skip
    result["table_best_valid"] = max(valid)
    result["table_mean_valid"] = round(sum(valid) / len(valid), 2)
    print(json.dumps(result, indent=1))


def _combined(
    space: Any, archs: list, valid: list[float], by_bn: dict[str, list[float]], names: list[str]
) -> dict[str, Any]:
    """Kendall tau and top-5 true ranks of each BN mode's scores combined with the proxies
    (each standardized over the scored cells and summed, as evaluator.proxies does), of the
    proxies alone, and of params alone; proxies on the benchmark's network, N=5 C=16."""
    import statistics

    from nao_kfp.child.proxies import ProxyScorer

    spec = NetSpec(layers=5, channels=16, aux_head=False, classes=10, in_channels=3, input_size=32)
    scorer = ProxyScorer(space, spec, names, reference=2)
    raw = [scorer.raw(a) for a in archs]

    def z(v: list[float]) -> list[float]:
        m, sd = statistics.fmean(v), statistics.pstdev(v)
        return [(x - m) / sd if sd else 0.0 for x in v]

    zp = [z([r[n] for r in raw]) for n in names]
    truth = sorted(range(len(valid)), key=lambda i: -valid[i])
    variants = {"+".join(names): [sum(col) for col in zip(*zp, strict=True)]}
    for bn, scores in by_bn.items():
        variants[f"supernet[{bn}]+" + "+".join(names)] = [
            sum(col) for col in zip(z(scores), *zp, strict=True)
        ]
    out = {}
    for name, v in variants.items():
        top5 = sorted(range(len(v)), key=lambda i: -v[i])[:5]
        out[name] = {
            "tau": _tau(v, valid), "top5_true_ranks": [truth.index(i) + 1 for i in top5],
            "top5_mean_valid": round(sum(valid[i] for i in top5) / 5, 2),
        }  # fmt: skip
    return out


def bn_sweep(args: argparse.Namespace) -> None:
    """Re-score a seeded subset of the table with the supernet of a finished `nb201` run."""
    space = get_space("nb201")
    with open(args.table) as f:
        rows = [(space.parse(r["arch"]), float(r["valid"])) for r in csv.DictReader(f)]
    rows = random.Random(args.seed).sample(rows, args.cells) if args.cells else rows
    archs, valid = [a for a, _ in rows], [v for _, v in rows]
    base = _overrides(args, 25000)
    data = load_split(load_config("nao-ws-nb201", base).child)
    for setting in args.grid.split(";"):  # e.g. "bn=running,dev_batches=4"
        keys = dict(kv.split("=") for kv in setting.split(","))
        sets = [f"supernet.{k}={v}" for k, v in keys.items()]
        cfg = load_config("nao-ws-nb201", [*base, "supernet.eval_batch_size=500", *sets])
        t0 = time.perf_counter()
        scores = score_archs(space, cfg, archs, data, Path(args.out) / "supernet")
        print(json.dumps({**keys, "cells": len(archs), "tau": _tau(scores, valid),
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)  # fmt: skip


def enas(args: argparse.Namespace) -> None:
    space = get_space("enas")
    pool = space.sample_unique(args.pool, random.Random(args.seed))
    extra = [
        f"child.layers={args.layers}", f"child.channels={args.channels}",
        f"child.epochs={args.child_epochs}", f"child.batch_size={args.batch}",
        "child.aux_head=false", "child.dropout=0", "child.drop_path=0",
    ]  # fmt: skip
    # dev_size = the scored images, so the stand-alone children are judged on the same ones
    cfg = load_config("nao-ws-cifar10", [*_overrides(args, args.dev_images), *extra])
    data = load_split(cfg.child)
    work = Path(args.out) / "supernet"
    trained = train_supernet(
        space, cfg, pool, data, work, epochs_to=args.epochs, seed=args.seed, log=log
    )
    chosen = pool[: args.archs]
    alone = []
    for i, arch in enumerate(chosen):
        r = train_child(
            space, arch, cfg.child, Path(args.out) / "alone" / space.canonical_id(arch), seed=0
        )
        alone.append(r.dev_accuracy)
        log(f"stand-alone {i + 1}/{len(chosen)}: dev {r.dev_accuracy:.4f} in {r.seconds or 0:.0f}s")
    result: dict[str, Any] = {
        "bench": "enas", "layers": args.layers, "channels": args.channels, "pool": args.pool,
        "epochs": args.epochs, "train_images": len(data.train_y), "dev_images": args.dev_images,
        "threads": args.threads, "lr_max": cfg.supernet.lr_max,
        "supernet_seconds": trained["seconds"],
        "epoch_s": round(trained["seconds"] / max(len(trained["history"]), 1), 1),
        "final_train_accuracy": trained["history"][-1]["train_accuracy"],
        "child_epochs": args.child_epochs, "stand_alone": alone, "modes": {},
    }  # fmt: skip
    for bn, (scores, seconds) in _score_modes(space, cfg, chosen, data, work, args.bn).items():
        result["modes"][bn] = {"tau": _tau(scores, alone), "scores": scores, "seconds": seconds}
    print(json.dumps(result, indent=1))


def _jpeg_batch(root: Path, n: int, seed: int) -> torch.Tensor:
    """n training images (a seeded choice over train/<class>/*.jpg), normalized per channel."""
    import numpy as np
    from PIL import Image

    files = sorted((root / "train").glob("*/*.jpg"))
    chosen = random.Random(seed).sample(files, n)
    x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))) for f in chosen])
    x = x.permute(0, 3, 1, 2).float() / 255
    return (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)


def proxies(args: argparse.Namespace) -> None:
    """Baselines computed on the same cells: parameter count, SynFlow, NASWOT; each cell's
    network is the benchmark's (--layers N, --channels C), freshly initialized with one seed."""
    from nao_kfp.child import build_network
    from nao_kfp.child.params import net_spec

    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    with open(args.table) as f:
        rows = [(space.parse(r["arch"]), float(r["valid"])) for r in csv.DictReader(f)]
    if args.cells:
        rows = random.Random(args.seed).sample(rows, args.cells)
    archs, valid = [a for a, _ in rows], [v for _, v in rows]
    x = _jpeg_batch(Path(args.data), args.batch, args.seed)
    spec = net_spec("cifar10", layers=args.layers, channels=args.channels, aux_head=False)
    scores: dict[str, list[float]] = {"params": [], "synflow": [], "naswot": []}
    t0 = time.perf_counter()
    for i, arch in enumerate(archs, start=1):
        torch.manual_seed(args.seed)
        net = build_network(space, arch, spec)
        scores["params"].append(float(sum(p.numel() for p in net.parameters())))
        scores["naswot"].append(naswot(net, x))
        scores["synflow"].append(synflow(net, tuple(x.shape[1:])))
        if i % 50 == 0:
            log(f"{i}/{len(archs)} cells in {time.perf_counter() - t0:.0f}s")

    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        for pos, i in enumerate(order):
            r[i] = float(pos)
        return r

    combos = {"naswot+synflow": ("naswot", "synflow"), "naswot+params": ("naswot", "params"),
              "synflow+params": ("synflow", "params")}  # fmt: skip
    for name, (a, b) in combos.items():
        scores[name] = [p + q for p, q in zip(ranks(scores[a]), ranks(scores[b]), strict=True)]
    truth = sorted(range(len(valid)), key=lambda i: -valid[i])
    out: dict[str, Any] = {"bench": "proxies", "cells": len(archs), "layers": args.layers,
                           "channels": args.channels, "batch": args.batch,
                           "seconds": round(time.perf_counter() - t0, 1), "scores": {}}  # fmt: skip
    for name, v in scores.items():
        top5 = sorted(range(len(v)), key=lambda i: -v[i])[:5]
        out["scores"][name] = {
            "tau": _tau(v, valid), "top5_true_ranks": [truth.index(i) + 1 for i in top5],
            "top5_mean_valid": round(sum(valid[i] for i in top5) / 5, 2),
        }  # fmt: skip
    out["table_best_valid"] = max(valid)
    print(json.dumps(out, indent=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("epoch-time")
    e.add_argument("--space", default="enas,nb201")
    e.add_argument("--images", type=int, default=1024)
    e.add_argument("--device", default="cpu", help="cpu or cuda (cuda: bf16 + channels_last)")
    e.add_argument("--no-amp", action="store_true", help="cuda without bf16 / channels_last")
    e.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    e.add_argument("--search-epochs", type=int, default=150, help="for the projected search time")
    for q in (e, sub.add_parser("nb201"), sub.add_parser("enas"), sub.add_parser("bn-sweep")):
        q.add_argument("--layers", type=int, default=1)
        q.add_argument("--channels", type=int, default=8)
        q.add_argument("--batch", type=int, default=64)
        q.add_argument("--threads", type=int, default=1)
        if q is e:
            continue
        q.add_argument("--data", required=True)
        q.add_argument("--epochs", type=int, default=10)
        q.add_argument("--train-images", type=int, default=10000)
        q.add_argument("--dev-images", type=int, default=500)
        q.add_argument("--bn", default="running,recalibrate,train")  # rerank by the first
        q.add_argument("--bn-batches", type=int, default=4)
        q.add_argument("--lr", type=float, default=0.0, help="supernet.lr_max; 0: the preset's")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--out", default=f"runs/bench-supernet-{q.prog.split()[-1]}")
        if q.prog.endswith("bn-sweep"):
            q.add_argument("--table", default=TABLE)
            q.add_argument("--cells", type=int, default=200)
            q.add_argument("--grid", default="bn=train;bn=recalibrate;bn=running")
        elif q.prog.endswith("nb201"):
            q.add_argument("--table", default=TABLE)
            q.add_argument("--cells", type=int, default=0, help="0: every cell of the table")
            q.add_argument("--rerank-top", type=int, default=0)
            q.add_argument("--rerank-epochs", type=int, default=2)
            q.add_argument(
                "--uniform",
                type=int,
                default=0,
                help="train on this many uniformly sampled cells (0: the table's)",
            )
            q.add_argument(
                "--proxies",
                default="",
                help="e.g. synflow,params: also the supernet combined with them",
            )
        else:
            q.add_argument("--archs", type=int, default=10)
            q.add_argument("--pool", type=int, default=50)
            q.add_argument("--child-epochs", type=int, default=2)
    z = sub.add_parser("proxies")
    z.add_argument("--data", required=True, help="the CIFAR-10 JPEGs (train/<class>/*.jpg)")
    z.add_argument("--table", default=TABLE)
    z.add_argument("--cells", type=int, default=0, help="0: every cell of the table")
    z.add_argument("--layers", type=int, default=5)
    z.add_argument("--channels", type=int, default=16)
    z.add_argument("--batch", type=int, default=64, help="images for NASWOT")
    z.add_argument("--threads", type=int, default=1)
    z.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    commands = {"epoch-time": epoch_time, "nb201": nb201, "enas": enas, "bn-sweep": bn_sweep,
                "proxies": proxies}  # fmt: skip
    commands[args.cmd](args)


if __name__ == "__main__":
    main()
