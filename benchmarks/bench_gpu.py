"""The GPU check for NAO-WS: what one weight-sharing search costs on one GPU.

    .venv/bin/python benchmarks/bench_gpu.py                  # one GPU, at most ~12 minutes
    .venv/bin/python benchmarks/bench_gpu.py --data /data/cifar10 --images 12800
    .venv/bin/python benchmarks/bench_gpu.py --smoke          # CPU, a minute: the script runs

For each weight-sharing preset (nao-ws-cifar10: the paper's ENAS-space search, N=3 F=20;
nao-ws-nb201: NAS-Bench-201, N=5 C=16), with bf16 autocast + channels_last (child.amp, what a
search uses on CUDA) and without: the search's own supernet training (train_supernet, the preset's
batch size, augmentation and one architecture per minibatch from a pool of the preset's
initial_archs) for one untimed warm-up epoch and --timed-epochs timed ones of --images training
images, extrapolated to the preset's full epoch (50,000 minus child.dev_size images); then the
scoring of --score-archs architectures with the shared weights (supernet.dev_batches batches of
eval_batch_size), extrapolated to every round's pool. Printed per setting: seconds per full
epoch, the projected search time (supernet.epochs epochs plus the scoring of every round;
the controller and the final re-rank are not included) against the paper's anchor of 7
GPU-hours for NAO-WS (we want well under half), as a JSON line and a readable line.

--data: CIFAR-10 as train/<class>/ and test/<class>/ image folders or a staged images-cifar10.pt
(default /data/cifar10 when it exists); otherwise random uint8 images of CIFAR-10's shape are
generated, which time the same as real ones.

Then the recurrent supernet of nao-ws-ptb (the paper's language-model search, issue 21: the
shared model 300 wide, batch 256, bptt 35, a 12-node cell per window): one untimed warm-up
epoch and --timed-epochs timed ones on --ptb-tokens training tokens, extrapolated to Penn
Treebank's 929,589, and the scoring of --score-archs cells on the preset's fixed validation
windows; printed as for the image presets, projected to the preset's 1,000 epochs (the paper:
NAO-WS on PTB in under 10 GPU-hours). --ptb: a folder with ptb.{train,valid,test}.txt (default
/data/ptb when it exists); otherwise random text with PTB's vocabulary size and length.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from nao_kfp.child import load_split, score_archs, train_supernet
from nao_kfp.child.data import staged_file
from nao_kfp.config import load_config
from nao_kfp.spaces import get_space

PRESETS = ("nao-ws-cifar10", "nao-ws-nb201")
PTB_PRESET, PTB_TRAIN_TOKENS, PTB_VOCAB = "nao-ws-ptb", 929589, 10000
PTB_PAPER_GPU_HOURS = 10.0  # NAO-WS on PTB (Luo et al. 2018, §4.2: 56.6 ppl in under 10 hours)
PAPER_GPU_HOURS = 7.0  # NAO-WS on CIFAR-10 (Luo et al. 2018, Table 1: 0.3 GPU-days)
CIFAR_TRAIN = 50000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def random_cifar(out: Path, train: int, test: int) -> Path:
    """A staged CIFAR-10 of random pixels (the shapes and classes of the real one)."""
    g = torch.Generator().manual_seed(0)
    torch.save(
        {"train_x": torch.randint(0, 256, (train, 3, 32, 32), dtype=torch.uint8, generator=g),
         "train_y": torch.randint(0, 10, (train,), generator=g),
         "test_x": torch.randint(0, 256, (test, 3, 32, 32), dtype=torch.uint8, generator=g),
         "test_y": torch.randint(0, 10, (test,), generator=g),
         "classes": [str(i) for i in range(10)]},
        out / staged_file("cifar10"),
    )  # fmt: skip
    return out


def measure(preset: str, amp: bool, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    sets = [f"child.data_dir={data_dir}", f"child.amp={str(amp).lower()}",
            f"child.device={args.device}", f"child.train_subset={args.images}"]  # fmt: skip
    if args.smoke:  # a small supernet on a small data set: only that the script runs
        sets += ["supernet.layers=1", "supernet.channels=4", "child.dev_size=500",
                 "supernet.eval_batch_size=100", "child.cpu_threads=1"]  # fmt: skip
    cfg = load_config(preset, sets)
    sn, s = cfg.supernet, cfg.search
    space = get_space(s.space)
    data = load_split(cfg.child)
    pool = space.sample_unique(s.initial_archs, random.Random(0))
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        train_supernet(
            space, cfg, pool, data, Path(tmp), epochs_to=1 + args.timed_epochs, seed=0,
            on_epoch=lambda _rec, secs: times.append(secs),
        )  # fmt: skip
        scored = pool[: args.score_archs]
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        score_archs(space, cfg, scored, data, Path(tmp))
        score_s = (time.perf_counter() - t0) / len(scored)
    full_epoch = (CIFAR_TRAIN if not args.smoke else args.images + cfg.child.dev_size) - (
        cfg.child.dev_size
    )
    epoch_s = sum(times[1:]) / len(times[1:]) * full_epoch / args.images
    pools = [s.initial_archs + s.new_archs * r for r in range(len(sn.schedule()))]
    search_h = (epoch_s * sn.epochs + score_s * sum(pools)) / 3600
    return {
        "preset": preset, "space": s.space, "layers": sn.layers, "channels": sn.channels,
        "batch": sn.batch_size, "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "amp_bf16_channels_last": amp, "timed_images": args.images, "full_epoch_images": full_epoch,
        "epoch_s": round(epoch_s, 2), "images_per_s": round(full_epoch / epoch_s, 1),
        "score_s_per_arch": round(score_s, 4), "scored_per_search": sum(pools),
        "epochs": sn.epochs, f"projected_{sn.epochs}_epoch_search_h": round(search_h, 3),
        "paper_anchor_h": PAPER_GPU_HOURS,
    }  # fmt: skip


def random_ptb(out: Path, train: int, vocab: int) -> Path:
    """ptb.{train,valid,test}.txt of random words: PTB's vocabulary size and shape."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(vocab - 2)]  # + <eos>, <unk>
    for name, n in (("train", train), ("valid", max(train // 8, 30000)), ("test", 2000)):
        lines = (" ".join(rng.choices(words, k=20)) for _ in range(n // 21 + 1))
        (out / f"ptb.{name}.txt").write_text("\n".join(lines) + "\n")
    return out


def measure_ptb(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """The recurrent supernet's epoch time at nao-ws-ptb, projected to its whole search."""
    from nao_kfp.child.data import load_data
    from nao_kfp.child.rnn_supernet_train import score_perplexities

    sets = [f"child.data_dir={data_dir}", f"child.device={args.device}",
            f"child.train_subset={args.ptb_tokens}"]  # fmt: skip
    if args.smoke:
        sets += ["supernet.channels=16", "supernet.batch_size=16", "supernet.eval_batch_size=8",
                 "supernet.dev_batches=2", "child.cpu_threads=1"]  # fmt: skip
    cfg = load_config(PTB_PRESET, sets)
    sn, s = cfg.supernet, cfg.search
    space = get_space(s.space)
    corpus = load_data(cfg)
    pool = space.sample_unique(s.initial_archs, random.Random(0))
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-gpu-ptb-") as tmp:
        train_supernet(
            space, cfg, pool, corpus, Path(tmp), epochs_to=1 + args.timed_epochs, seed=0,
            on_epoch=lambda _rec, secs: times.append(secs),
        )  # fmt: skip
        scored = pool[: args.score_archs]
        if args.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        score_perplexities(space, cfg, scored, corpus, Path(tmp))
        score_s = (time.perf_counter() - t0) / len(scored)
    full = args.ptb_tokens if args.smoke else PTB_TRAIN_TOKENS
    epoch_s = sum(times[1:]) / len(times[1:]) * full / args.ptb_tokens
    pools = [s.initial_archs + s.new_archs * r for r in range(len(sn.schedule()))]
    search_h = (epoch_s * sn.epochs + score_s * sum(pools)) / 3600
    return {
        "preset": PTB_PRESET, "space": s.space, "width": sn.channels, "batch": sn.batch_size,
        "bptt": cfg.child.rnn.bptt, "device": args.device,
        "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
        "timed_tokens": args.ptb_tokens, "full_epoch_tokens": full, "epoch_s": round(epoch_s, 2),
        "tokens_per_s": round(full / epoch_s, 1), "score_s_per_arch": round(score_s, 4),
        "scored_per_search": sum(pools), "epochs": sn.epochs,
        f"projected_{sn.epochs}_epoch_search_h": round(search_h, 3),
        "paper_anchor_h": PTB_PAPER_GPU_HOURS,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", default="/data/cifar10", help="CIFAR-10 (random images if absent)")
    p.add_argument("--images", type=int, default=6400, help="training images per timed epoch")
    p.add_argument("--timed-epochs", type=int, default=1, help="after one untimed warm-up epoch")
    p.add_argument("--score-archs", type=int, default=50)
    p.add_argument("--presets", default=",".join((*PRESETS, PTB_PRESET)))
    p.add_argument("--ptb", default="/data/ptb", help="Penn Treebank (random text if absent)")
    p.add_argument("--ptb-tokens", type=int, default=200000, help="training tokens per epoch")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny supernets: the script runs")
    args = p.parse_args()
    args.device = "cpu" if args.smoke else "cuda"
    if args.smoke:
        args.images, args.score_archs, args.ptb_tokens = 256, 4, 2000
    elif not torch.cuda.is_available():
        p.error("no CUDA device (use --smoke to check the script on the CPU)")
    with tempfile.TemporaryDirectory(prefix="bench-gpu-data-") as tmp:
        data = Path(args.data)
        if (
            args.smoke
            or not (data / "train").is_dir()
            and not (data / staged_file("cifar10")).is_file()
        ):
            n = args.images + 500 if args.smoke else CIFAR_TRAIN
            log(f"{data}: no CIFAR-10 there; timing on {n} random 32x32 images")
            data = random_cifar(Path(tmp), n, 100 if args.smoke else 10000)
        presets = args.presets.split(",")
        if PTB_PRESET in presets:
            ptb = Path(args.ptb)
            if args.smoke or not (ptb / "ptb.train.txt").is_file():
                log(f"{ptb}: no Penn Treebank there; timing on random text of its vocabulary")
                ptb = random_ptb(Path(tmp), args.ptb_tokens, 200 if args.smoke else PTB_VOCAB)
            t0 = time.perf_counter()
            r = measure_ptb(args, ptb)
            print(json.dumps(r), flush=True)
            h = r[f"projected_{r['epochs']}_epoch_search_h"]
            log(f"{PTB_PRESET}: {r['epoch_s']:.1f} s per {r['full_epoch_tokens']}-token epoch, "
                f"{r['tokens_per_s']:.0f} tokens/s; {r['epochs']}-epoch search ~{h:.2f} h "
                f"(paper: under {PTB_PAPER_GPU_HOURS:.0f} GPU-hours); measured in "
                f"{time.perf_counter() - t0:.0f}s")  # fmt: skip
        for preset in (p for p in presets if p != PTB_PRESET):
            for amp in (True, False):
                t0 = time.perf_counter()
                r = measure(preset, amp, args, data)
                print(json.dumps(r), flush=True)
                how = "bf16 + channels_last" if amp else "fp32, default layout"
                h = r[f"projected_{r['epochs']}_epoch_search_h"]
                log(f"{preset} ({how}): {r['epoch_s']:.1f} s per {r['full_epoch_images']}-image "
                    f"epoch, {r['images_per_s']:.0f} images/s; {r['epochs']}-epoch search "
                    f"~{h:.2f} h (paper: {PAPER_GPU_HOURS:.0f} GPU-hours; target under "
                    f"{PAPER_GPU_HOURS / 2:.1f}); measured in {time.perf_counter() - t0:.0f}s")  # fmt: skip


if __name__ == "__main__":
    main()
