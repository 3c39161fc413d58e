"""Controller quality on real data: 725 NAS-Bench-201 cells with CIFAR-10 validation accuracy.

Trains on 500 (a seeded random split; the file is sorted by architecture) and reports pairwise
accuracy of f and Hamming distance of D(E(x)) on the other 225. The paper's bar with 500 real
CIFAR-10 architectures: pairwise accuracy > 0.78, Hamming < 0.5.

    .venv/bin/python benchmarks/bench_controller_nb201.py [--config nb201] [--set controller.X=Y]
        [--seeds 0,1,2] [--csv ../shared/data/nb201-sample/nb201_cifar10_sample725.csv]

Prints one JSON object per seed and one with the mean. CPU timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from pathlib import Path

from nao_kfp.config import load_config
from nao_kfp.controller import fit
from nao_kfp.pool import PoolEntry, entry
from nao_kfp.spaces import get_space

DEFAULT_CSV = (
    Path(__file__).resolve().parents[2] / "shared/data/nb201-sample/nb201_cifar10_sample725.csv"
)
N_TRAIN = 500


def read_rows(path: Path) -> list[PoolEntry]:
    space = get_space("nb201")
    with path.open() as f:
        # the file gives accuracy in percent; pools hold fractions
        return [
            entry(space, space.parse(r["arch"]), accuracy=float(r["valid"]) / 100.0)
            for r in csv.DictReader(f)
        ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    p.add_argument("--config", default="nb201", help="preset or YAML (default: nb201)")
    p.add_argument("--set", dest="extra", action="append", default=[])
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args()
    rows = read_rows(args.csv)
    cfg = load_config(
        args.config, ["search.space=nb201", "child.dataset=cifar10", *args.extra]
    ).controller
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        train, held = shuffled[:N_TRAIN], shuffled[N_TRAIN:]
        t0, c0 = time.perf_counter(), time.process_time()
        _model, m = fit(get_space("nb201"), train, cfg, seed=seed, eval_set=held)
        res = {"seed": seed, "n_train": len(train), "n_eval": len(held), "epochs": m["epochs"],
               "seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
               "pairwise_accuracy": m["pairwise_accuracy"], "hamming": m["hamming"]}  # fmt: skip
        results.append(res)
        print(json.dumps(res), flush=True)
    mean = {k: round(statistics.mean(r[k] for r in results), 4)
            for k in ("pairwise_accuracy", "hamming", "seconds", "cpu_seconds", "epochs")}  # fmt: skip
    print(
        json.dumps(
            {
                "mean_over_seeds": len(results),
                "config": args.config,
                "overrides": args.extra,
                **mean,
            }
        )
    )


if __name__ == "__main__":
    main()
