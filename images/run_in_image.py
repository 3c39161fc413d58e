"""Run a tiny search in the built image and check it finds what the same config finds locally.

    python images/run_in_image.py [--image localhost/nao-kfp:<version>-cpu] [--out build/image-run]

Every task runs in the image through kfp.local's DockerRunner, i.e. through the container
command KFP itself uses (`python3 -m kfp.dsl.executor_main ...`), as the image's non-root user,
with the pipeline root bind-mounted at its host path. The Docker API is podman's
(`podman system service`, started here unless DOCKER_HOST is set). Beside it the same config
runs with `nao search` (SubprocessRunner), and the two result.json and pool.jsonl must be
equal but for timings (VOLATILE). Exit status 1 when they differ. Writes OUT/docker/,
OUT/subprocess/ and OUT/comparison.json.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from nao_kfp import __version__
from nao_kfp.config import Config, load_config

DEFAULT_IMAGE = f"localhost/nao-kfp:{__version__}-cpu"
# The demo preset shrunk to a minute of CPU: two rounds, so the controller steps run, and two
# shards, so ParallelFor and the dsl.Collected fan-in of artifacts run too.
TINY = [
    "name=image-check",
    "search.rounds=2",
    "search.initial_archs=4",
    "search.top_k=2",
    "search.new_archs=2",
    "search.shards=2",
    "controller.epochs=20",
    "controller.batch_size=8",
    "child.dev_size=200",
    "child.train_subset=300",
    "child.channels=4",
    "child.epochs=2",
    "child.batch_size=64",
    "child.cpu_threads=1",
]
# Keys that measure time, not what was found: left out of the comparison.
VOLATILE = re.compile(r"(^|_)seconds$|^s_per_epoch$")


def tiny_config(image: str, overrides: list[str]) -> Config:
    return load_config("demo", [*TINY, f"cluster.image={image}", *overrides])


def comparable(value: Any) -> Any:
    """value without the VOLATILE keys, at any depth."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if not VOLATILE.search(k)}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Where two comparable values differ, as paths (`rounds[1].best_accuracy: 0.5 != 0.4`)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(a.keys() | b.keys()):
            out += differences(a.get(k), b.get(k), f"{where}.{k}" if where else k)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def read_outputs(run_dir: Path) -> dict[str, Any]:
    pool = [json.loads(line) for line in (run_dir / "pool.jsonl").read_text().splitlines() if line]
    result = json.loads((run_dir / "result.json").read_text())
    return comparable({"result": result, "pool": sorted(pool, key=lambda e: e["id"])})


@contextlib.contextmanager
def docker_api(log: Path) -> Iterator[None]:
    """DOCKER_HOST as it is, or a podman API service of our own for the duration."""
    if os.environ.get("DOCKER_HOST"):
        yield
        return
    sock_dir = Path(tempfile.mkdtemp(prefix="nao-podman-"))
    sock = sock_dir / "podman.sock"
    with log.open("a") as out:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(100):
            if sock.exists() or service.poll() is not None:
                break
            time.sleep(0.1)
        if not sock.exists():
            raise SystemExit(f"run_in_image: podman system service did not start (see {log})")
        os.environ["DOCKER_HOST"] = f"unix://{sock}"
        yield
    finally:
        os.environ.pop("DOCKER_HOST", None)
        service.terminate()
        service.wait(timeout=30)
        shutil.rmtree(sock_dir, ignore_errors=True)


def image_user(image: str) -> tuple[int, int]:
    """The uid:gid the image's tasks run as (its USER, numeric in our Dockerfiles)."""
    import docker

    client = docker.from_env()
    try:
        user = client.images.get(image).attrs["Config"].get("User") or "0"
    finally:
        client.close()
    uid, _, gid = user.partition(":")
    return int(uid), int(gid or 0)


def run_container(
    client: Any, image: str, command: list[str], volumes: dict[str, Any], **run_args: Any
) -> int:
    """kfp.local's docker_task_handler.run_docker_container, less its auto_remove.

    kfp 2.17 starts each task's container with auto_remove=True, then reads its logs and exit
    code; a task that ends within a second is removed first. Docker then answers 404, which
    kfp takes for exit code 0 (a failed task would pass); podman 4.3 answers 500, and the
    run stops. Here the container stays until its logs and exit code are read."""
    container = client.containers.run(
        image=image, command=command, volumes=volumes, detach=True, **run_args
    )
    try:
        for line in container.logs(stream=True, follow=True):
            print(line.decode(), end="")
        return int(container.wait()["StatusCode"])
    finally:
        container.remove(force=True)


def run_in_docker(cfg: Config, out_dir: Path) -> dict[str, Any]:
    """The pipeline with kfp.local's DockerRunner, every task in cfg.cluster.image; like
    pipelines.search.run_local otherwise. The pipeline root is the only host path a task sees,
    so the store lives in it, and it belongs to the image's user: tasks run as that user and
    write their artifacts there (this process, root, reads them all the same)."""
    from kfp import local
    from kfp.local import docker_task_handler
    from nao_kfp.pipelines.search import build_pipeline

    root = out_dir / "kfp"
    root.mkdir(parents=True, exist_ok=True)
    os.chown(root, *image_user(cfg.cluster.image))
    cfg = cfg.replace(cluster=dataclasses.replace(cfg.cluster, store_dir=str(root / "store")))
    local.init(
        # no task needs the network (digits ship with scikit-learn; the store is local)
        runner=local.DockerRunner(network_mode="none"),
        pipeline_root=str(root),
        raise_on_error=True,
    )
    original_print = builtins.print
    with (
        (out_dir / "kfp.log").open("a") as log,
        contextlib.redirect_stdout(log),
        warnings.catch_warnings(),
        mock.patch.object(docker_task_handler, "run_docker_container", run_container),
    ):
        warnings.filterwarnings("ignore", module=r"kfp\.local\.")
        try:
            task = build_pipeline(cfg)()
        finally:
            builtins.print = original_print  # see run_local: ParallelFor tasks swap it
    shutil.copyfile(task.outputs["result"].path, out_dir / "result.json")
    shutil.copyfile(task.outputs["pool"].path, out_dir / "pool.jsonl")
    return json.loads((out_dir / "result.json").read_text())


def start_nao_search(sets: list[str], out_dir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """The reference: `nao search --config demo --set ...` in a process of its own (kfp.local's
    log handlers outlive a run, so two runs in one process log into each other's closed files),
    started now and run beside the image's run. Its output goes to OUT_DIR.log."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log = out_dir.with_suffix(".log")
    cli = "import sys; from nao_kfp.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", cli, "search", "--config", "demo", "--out", str(out_dir)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv + [a for s in sets for a in ("--set", s)], stdout=out, stderr=subprocess.STDOUT
        )
    return proc, log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default=DEFAULT_IMAGE)
    parser.add_argument("--out", type=Path, default=Path("build/image-run"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    shutil.rmtree(out, ignore_errors=True)  # each run trains afresh: no cache from the last one
    docker_dir, local_dir = out / "docker", out / "subprocess"
    docker_dir.mkdir(parents=True)

    # one config for both; each run keeps its own store (nao search: DIR/store), so neither
    # reads the other's finished children
    cfg = tiny_config(args.image, args.set)

    # both runs side by side: each is mostly one core's work (a task at a time, 2 small shards)
    started = time.monotonic()
    search, log = start_nao_search([*TINY, f"cluster.image={args.image}", *args.set], local_dir)
    try:
        with docker_api(out / "podman.log"):
            run_in_docker(cfg, docker_dir)
        docker_s = time.monotonic() - started
        code = search.wait()
    finally:
        if search.poll() is None:
            search.kill()
            search.wait()
    local_s = time.monotonic() - started
    if code:
        raise SystemExit(f"run_in_image: nao search failed ({code}); see {log}")

    diff = differences(read_outputs(local_dir), read_outputs(docker_dir))
    summary = {
        "image": args.image,
        "docker_runner_seconds": round(docker_s, 1),
        "subprocess_runner_seconds": round(local_s, 1),
        "equal": not diff,
        "excluded_keys": VOLATILE.pattern,
        "differences": diff,
    }
    (out / "comparison.json").write_text(json.dumps(summary, indent=1) + "\n")
    best = json.loads((docker_dir / "result.json").read_text())["best"]
    print(
        f"run_in_image: DockerRunner {docker_s:.0f}s, SubprocessRunner {local_s:.0f}s; "
        f"best {best['id']} dev accuracy {best['dev_accuracy']}; "
        + ("results equal" if not diff else f"{len(diff)} differences:")
    )
    for line in diff[:20]:
        print("  " + line)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
