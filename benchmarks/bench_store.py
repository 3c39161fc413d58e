"""What the store costs a child: per-epoch checkpoint mirror, restore, and result-cache lookups.

Runs both backends: a local directory and S3 (a real SeaweedFS server from tests/s3server.py,
started here on 127.0.0.1). The checkpoint size defaults to that of a paper-size NASNet child
with SGD momentum (~3.3M params -> weights + momentum, float32, ~27 MB).

    .venv/bin/python benchmarks/bench_store.py
    .venv/bin/python benchmarks/bench_store.py --checkpoint-mb 5 --repeats 20

Prints one JSON object per backend (median seconds per operation) plus the server's startup
time. Numbers on a shared 2-core CPU are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from s3server import start_s3_server  # noqa: E402

from nao_kfp.store import ChildCache, LocalStore, S3Store, Store  # noqa: E402


def median_s(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench(name: str, store: Store, ckpt: Path, work: Path, repeats: int) -> dict[str, object]:
    cache = ChildCache(store, "nasnet", "0123456789abcdef", "bench")
    mirror = cache.mirror()
    restored = work / f"restored-{name}.pt"

    def restore() -> None:
        restored.unlink(missing_ok=True)
        assert cache.restore(restored)

    result = {"dev_accuracy": 0.9, "epochs": 20, "params": 3_300_000}
    cache.save_result(result)
    mb = ckpt.stat().st_size / 2**20
    mirror_s = median_s(lambda: mirror(ckpt), repeats)
    restore_s = median_s(restore, repeats)
    return {
        "backend": name,
        "checkpoint_mb": round(mb, 1),
        "mirror_s": round(mirror_s, 4),
        "mirror_mb_per_s": round(mb / mirror_s, 1),
        "restore_s": round(restore_s, 4),
        "restore_mb_per_s": round(mb / restore_s, 1),
        "cache_hit_s": round(median_s(cache.result, repeats), 4),
        "cache_miss_s": round(
            median_s(ChildCache(store, "nasnet", "ffff", "bench").result, repeats), 4
        ),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint-mb", type=float, default=27.0)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="nao-bench-store-") as tmp:
        work = Path(tmp)
        ckpt = work / "checkpoint.pt"
        ckpt.write_bytes(os.urandom(int(args.checkpoint_mb * 2**20)))
        print(json.dumps(bench("local", LocalStore(work / "store"), ckpt, work, args.repeats)))
        t = time.perf_counter()
        server = start_s3_server(work / "seaweedfs")
        startup = time.perf_counter() - t
        try:
            s3 = S3Store(server.endpoint, server.bucket, server.access_key, server.secret_key)
            row = bench("s3-seaweedfs", s3, ckpt, work, args.repeats)
            row["server_startup_s"] = round(startup, 2)
            print(json.dumps(row))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
