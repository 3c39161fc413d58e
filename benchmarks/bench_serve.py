"""Serving latency and throughput: the eager network, the exported program (model.pt2), the
AOTInductor package (model.aoti.pt2) and a v2 request through `nao serve`, in one run.

    .venv/bin/python benchmarks/bench_serve.py [--threads 1] [--requests 300] [--rounds 10]
                                               [--models demo,naonet-b] [--out DIR]

Two models, both with NAONet-B's cell (the enas space): `demo`, the network the demo preset
trains and `nao search` offers to serve (its child section: N=1, F=8, 8×8 digits, ~55k
parameters), and `naonet-b`, NAONet-B at the paper's size (N=5, F=36, 32×32, ~2.5M parameters).
Each is exported with `nao export`'s code (random weights: the time does not depend on them),
compile included; the compile's wall time is reported.

Per model: p50 and p99 of one image (batch 1) and images/s at batch 32, for
  eager    the network in this process (export.load_classifier), torch.no_grad
  program  torch.export.load(model.pt2).module() in this process
  package  torch._inductor.aoti_load_package(model.aoti.pt2) in this process
  serve    a v2 request (JSON, one FP32 tensor) to `nao serve DIR --threads T` on 127.0.0.1,
           over one kept-alive HTTP connection: what a client waits for, end to end
Every runner uses T torch threads. The requests go in rounds (--rounds), each round running
every runner in turn, so that the machine's load falls on all of them alike; the ratio the
target names (serve p50 / eager p50 of the demo model, at most 1.5) comes from the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nao_kfp.child.params import build_network, net_spec
from nao_kfp.config import load_config
from nao_kfp.export import PACKAGE_FILE, PROGRAM_FILE, export_model, load_classifier
from nao_kfp.spaces import get_space

NAONET_B = "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3 1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2"
BATCH = 32
RUNNERS = ("eager", "program", "package", "serve")
Runner = Callable[[torch.Tensor], object]


def models() -> dict[str, tuple[str, int, int]]:
    """name -> (data set, N, F)."""
    demo = load_config("demo").child
    return {"demo": (demo.dataset, demo.layers, demo.channels), "naonet-b": ("cifar10", 5, 36)}


def checkpoint(name: str, folder: Path) -> Path:
    """A child checkpoint as train_child writes one (random weights), NAONet-B's cell."""
    dataset, layers, channels = models()[name]
    space = get_space("enas")
    arch = space.parse_official(NAONET_B)
    spec = dataclasses.replace(net_spec(dataset, layers=layers, channels=channels), aux_head=False)
    torch.manual_seed(0)
    net = build_network(space, arch, spec)
    path = folder / "checkpoint.pt"
    torch.save(
        {"space": space.name, "arch": space.to_json(arch), "model": net.state_dict(),
         "spec": dataclasses.asdict(spec), "normalize": {"mean": [0.5] * spec.in_channels,
         "std": [0.25] * spec.in_channels}, "class_names": [str(i) for i in range(spec.classes)],
         "dataset": dataset},
        path,
    )  # fmt: skip
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`nao serve` in a subprocess, and one kept-alive connection to it."""

    def __init__(self, model_dir: Path, threads: int, log: Path):
        self.port = free_port()
        self.log = log
        with log.open("w") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nao_kfp.cli", "serve", str(model_dir), "--port",
                 str(self.port), "--threads", str(threads)],
                stdout=f, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 180
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"nao serve did not start:\n{log.read_text()}")
            time.sleep(0.2)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def _ready(self) -> bool:
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("GET", "/v2/health/ready")
            return c.getresponse().status == 200
        except OSError:
            return False

    def runner(self, x: torch.Tensor) -> Runner:
        """A request of x's shape; the body is encoded once (a client's own cost)."""
        body = json.dumps({"inputs": [{"name": "pixels", "shape": list(x.shape),
                           "datatype": "FP32", "data": x.flatten().tolist()}]}).encode()  # fmt: skip
        headers = {"content-type": "application/json"}

        def call(_x: torch.Tensor) -> object:
            self.conn.request("POST", "/v2/models/nao/infer", body, headers)
            r = self.conn.getresponse()
            out = json.loads(r.read())
            if r.status != 200:
                raise SystemExit(f"nao serve answered {r.status}: {out}")
            return out

        return call

    def line(self) -> str:
        lines = [x for x in self.log.read_text().splitlines() if x.startswith("nao serve:")]
        return lines[-1] if lines else ""

    def stop(self) -> None:
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)


def timed(run: Runner, x: torch.Tensor, n: int) -> list[float]:
    out = []
    with torch.no_grad():
        for _ in range(n):
            start = time.perf_counter()
            run(x)
            out.append(time.perf_counter() - start)
    return out


def percentile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[round(q) - 1] if q < 100 else max(xs)


def bench_model(name: str, args: argparse.Namespace, work: Path) -> list[dict[str, object]]:
    folder = work / name
    folder.mkdir(parents=True)
    start, cpu = time.monotonic(), os.times()
    done = export_model(checkpoint(name, folder), folder / "model", aot_compile=True, log=print)
    after = os.times()  # the compiler runs in child processes
    compile_cpu = sum(after[:4]) - sum(cpu[:4])
    if done.package is None:
        raise SystemExit("no AOTInductor package (no C++ compiler?): nothing to compare")
    model_dir = folder / "model"
    eager = load_classifier(model_dir / "model.pt")
    params = sum(p.numel() for p in eager.parameters())
    program = torch.export.load(str(model_dir / PROGRAM_FILE)).module()
    package = torch._inductor.aoti_load_package(str(model_dir / PACKAGE_FILE))
    server = Server(model_dir, args.threads, folder / "serve.log")
    print(f"{name}: {params} parameters, exported in {time.monotonic() - start:.0f} s "
          f"({compile_cpu:.0f} CPU-seconds with the compile); "
          f"{server.line()}", flush=True)  # fmt: skip
    inp = torch.load(model_dir / "model.pt", weights_only=True)["input"]
    c, s = inp["channels"], inp["size"]
    one, many = torch.rand(1, c, s, s), torch.rand(BATCH, c, s, s)
    runs: dict[str, tuple[Runner, Runner]] = {
        "eager": (eager, eager),
        "program": (program, program),
        "package": (package, package),
        "serve": (server.runner(one), server.runner(many)),
    }
    for first, batch in runs.values():  # warm every path (the server warmed itself up)
        timed(first, one, 5)
        timed(batch, many, 2)
    lat: dict[str, list[float]] = {k: [] for k in RUNNERS}
    thr: dict[str, list[float]] = {k: [] for k in RUNNERS}
    per_round = max(1, args.requests // args.rounds)
    for _ in range(args.rounds):
        for k in RUNNERS:
            lat[k] += timed(runs[k][0], one, per_round)
            thr[k] += timed(runs[k][1], many, max(1, per_round // 10))
    server.stop()
    rows = []
    for k in RUNNERS:
        rows.append({
            "model": name, "params": params, "runner": k,
            "p50_ms": round(statistics.median(lat[k]) * 1000, 2),
            "p99_ms": round(percentile(lat[k], 99) * 1000, 2),
            "images_per_s": round(BATCH / statistics.median(thr[k]), 0),
            "requests": len(lat[k]),
            "compile_s": done.compile_seconds if k == "package" else None,
            "export_cpu_s": round(compile_cpu, 1) if k == "package" else None,
        })  # fmt: skip
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads of every runner")
    p.add_argument("--requests", type=int, default=300, help="batch-1 requests per runner")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--models", default="demo,naonet-b")
    p.add_argument("--out", type=Path, default=None, help="where the models go (default: temp)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    work = args.out or Path(tempfile.mkdtemp(prefix="nao-bench-serve-"))
    load = os.getloadavg()[0]
    rows = [r for name in args.models.split(",") for r in bench_model(name, args, work)]
    print(
        f"\n{os.cpu_count()} CPUs, load average {load:.1f} at the start, threads {args.threads}\n"
    )
    print("| model | params | runner | p50 ms (batch 1) | p99 ms (batch 1) | images/s (batch 32) |")
    print("|---|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['params']:,} | {r['runner']} | {r['p50_ms']} | {r['p99_ms']} "
              f"| {r['images_per_s']:.0f} |")  # fmt: skip
    for name in {str(r["model"]) for r in rows}:
        p50 = {str(r["runner"]): float(str(r["p50_ms"])) for r in rows if r["model"] == name}
        (pkg,) = [r for r in rows if r["model"] == name and r["runner"] == "package"]
        print(f"{name}: serve p50 / eager p50 = {p50['serve'] / p50['eager']:.2f}; AOTInductor "
              f"compile {pkg['compile_s']} s wall, export {pkg['export_cpu_s']} CPU-s")  # fmt: skip
    print(json.dumps({"threads": args.threads, "rows": rows}))


if __name__ == "__main__":
    main()
