"""What portable numerics cost: CPU seconds of one NAO run of the reproduce spec, pinned
(nao_kfp.numerics: ATen default kernels, MKL COMPATIBLE) against torch's native kernels, and of
a controller fit with the fused Adam update (what the controller uses, and what keeps the run
bitwise equal across CPUs) against the foreach one (what it used before).

    .venv/bin/python benchmarks/bench_portable.py --repeats 3

Each measurement is a fresh process (pinning happens before torch loads), alternating the
variants, and reports process CPU time, so a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

RUN = """
import json, sys, time
if sys.argv[1] == "portable":
    from nao_kfp.numerics import pin
    pin()
import dataclasses
import torch
torch.set_num_threads(1)
from nao_kfp.strategies.reproduce import ReproduceSpec, run_strategy
spec = dataclasses.replace(ReproduceSpec(), strategies=("nao",), budgets=(20,), seeds=(0,))
t = time.process_time()
run_strategy(spec, "nao")
print(json.dumps({"cpu_s": time.process_time() - t}))
"""

FIT = """
import json, random, sys, time
from nao_kfp.numerics import pin
pin()
import torch
import nao_kfp.controller.train as train
from nao_kfp import controller
from nao_kfp.config import load_config
from nao_kfp.pool import entry
from nao_kfp.spaces import get_space
fused = sys.argv[1] == "fused"
def optimizer(params, cfg):
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    kind = {"fused": True} if fused else {"foreach": True}
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kind)
train._optimizer = optimizer
cfg = load_config("nb201", ["controller.pseudo_labels=0", "controller.epochs=100"])
space, rng = get_space("nb201"), random.Random(0)
pool = []
for arch in space.sample_unique(50, rng):
    e = entry(space, arch, source="random")
    e.status, e.accuracy = "ok", 80 + 10 * rng.random()
    pool.append(e)
t = time.process_time()
controller.fit(space, pool, cfg.controller, seed=1)
print(json.dumps({"cpu_s": time.process_time() - t}))
"""


def measure(code: str, variant: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code, variant], capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_s"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    for title, code, variants in (
        ("NAO run, budget 20 (CPU s)", RUN, ("native", "portable")),
        ("controller fit, 50 archs x 100 epochs, pinned (CPU s)", FIT, ("foreach", "fused")),
    ):
        times: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for v in variants:
                times[v].append(measure(code, v))
        med = {v: statistics.median(t) for v, t in times.items()}
        a, b = variants
        print(
            f"{title}: {a} {med[a]:.2f}, {b} {med[b]:.2f} (median of {args.repeats}); "
            f"{b} / {a} = {med[b] / med[a]:.2f}"
        )


if __name__ == "__main__":
    main()
