"""Wall time and outcome of the demo search (`nao search` on configs/demo.yaml).

    .venv/bin/python benchmarks/bench_demo.py [--config demo] [--set KEY=VALUE ...] [--out DIR]

Prints the wall time, the per-round table and the best architecture. The target: a 3-round
digits search finishing in <= 10 minutes on 2 CPU cores. A fresh DIR each time (default: a
temporary directory), so no child comes from an earlier run's cache.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from nao_kfp.pipelines.local import run_local

from nao_kfp.config import load_config
from nao_kfp.records import read_result
from nao_kfp.summary import summary_table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="demo")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    cfg = load_config(args.config, args.overrides)
    out = args.out or Path(tempfile.mkdtemp(prefix="nao-bench-demo-"))
    start = time.monotonic()
    result = run_local(cfg, out)
    wall = time.monotonic() - start
    print(summary_table(read_result(out / "result.json")))
    children = sum(r["evaluated"] + r["failed"] for r in result["rounds"])
    print(
        json.dumps(
            {
                "config": args.config,
                "overrides": args.overrides,
                "cpus": os.cpu_count(),
                "rounds": len(result["rounds"]),
                "children": children,
                "best_dev_accuracy": result["best"]["dev_accuracy"] if result["best"] else None,
                "wall_s": round(wall, 1),
                "out": str(out),
            }
        )
    )


if __name__ == "__main__":
    main()
