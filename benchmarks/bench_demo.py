"""Wall time, CPU time and outcome of the demo search (`nao search` on configs/demo.yaml).

    .venv/bin/python benchmarks/bench_demo.py [--config demo] [--seeds 0 1 2] [--set KEY=VALUE ...]
        [--out DIR]

Per seed: the per-round table and what NAO did (its proposals against the random
architectures), then one JSON line with the wall and CPU seconds (this process and its task
subprocesses), NAO's and the random architectures' mean and best dev accuracy, and the best
architecture's test accuracy. The targets: NAO's proposals beat the random ones on mean dev
accuracy on every seed, each search within 5 minutes on 2 CPU cores. CPU seconds are the
number to compare on a shared machine: on 2 free cores the wall time is at least half of them.
A fresh DIR per seed (default: a temporary directory), so no child comes from an earlier run's
cache.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from nao_kfp.pipelines.local import run_local

from nao_kfp.config import load_config
from nao_kfp.findings import groups
from nao_kfp.records import read_result
from nao_kfp.summary import summary_table


def cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children (the tasks)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="demo")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="nao-bench-demo-"))
    for seed in args.seeds:
        cfg = load_config(args.config, [*args.overrides, f"search.seed={seed}"])
        out = root / f"seed{seed}"
        start, cpu = time.monotonic(), cpu_seconds()
        run_local(cfg, out)
        wall, cpu = time.monotonic() - start, cpu_seconds() - cpu
        result = read_result(out / "result.json")
        print(summary_table(result))
        found = {g.label: g for g in groups(result.origins)}
        nao, rand = found.get("NAO's proposals"), found.get("random")
        print(
            json.dumps(
                {
                    "config": args.config,
                    "overrides": args.overrides,
                    "seed": seed,
                    "cpus": os.cpu_count(),
                    "children": sum(r.evaluated + r.failed for r in result.rounds),
                    "wall_s": round(wall, 1),
                    "cpu_s": round(cpu, 1),
                    "nao_mean": nao.mean if nao else None,
                    "nao_best": nao.best if nao else None,
                    "random_mean": rand.mean if rand else None,
                    "random_best": rand.best if rand else None,
                    "nao_beats_random": bool(nao and rand and (nao.mean or 0) > (rand.mean or 0)),
                    "best_dev_accuracy": result.best.dev_accuracy if result.best else None,
                    "best_test_accuracy": result.best.test_accuracy if result.best else None,
                    "out": str(out),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
