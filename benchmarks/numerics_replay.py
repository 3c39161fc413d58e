"""Replay one controller step with portable numerics and log every torch op's output digest.

`nao reproduce` names the first step and tensor where a NAO run parts from the reference (a
round's fit, optimize or decode). To find the op inside that step, run this script on both
machines (or on one machine and under an emulated CPU of the other kind) and diff the logs:

    .venv/bin/python benchmarks/numerics_replay.py ops --step fit --out intel.txt
    qemu-x86_64 -cpu EPYC-Milan .venv/bin/python benchmarks/numerics_replay.py ops --step fit --out amd.txt
    .venv/bin/python benchmarks/numerics_replay.py diff intel.txt amd.txt

(`qemu-x86_64` is Debian's qemu-user: it reports the CPU model it is given, vendor included, to
MKL and torch, so the AMD code paths run on an Intel machine and the other way round; it emulates
no AVX-512, and about 40x slower.) A step (or `--step all`: fit, optimize and decode) runs on a small generated pool with the nb201
preset's controller, so it takes seconds natively; every op's output (forward, backward and the
optimizer's) is hashed, uninitialized `empty` outputs excepted. `diff` prints the first op whose
output differs, with its input shapes, and the op before it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import sys
from pathlib import Path
from typing import Any, TextIO

STEPS = ("fit", "optimize", "decode", "all")


def replay(step: str, out: TextIO, epochs: int) -> None:
    from nao_kfp.numerics import pin

    pin()  # before torch loads
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    from nao_kfp import controller
    from nao_kfp.config import load_config
    from nao_kfp.pool import entry
    from nao_kfp.spaces import get_space

    class OpLog(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None):
            result = func(*args, **(kwargs or {}))
            name = str(func)
            digests = []
            if "empty" not in name:  # uninitialized memory: no stable digest
                for t in tree_flatten(result)[0]:
                    if isinstance(t, torch.Tensor):
                        data = t.detach().contiguous().numpy().tobytes()
                        digests.append(hashlib.sha256(data).hexdigest()[:12])
            shapes = [
                "x".join(map(str, t.shape)) or "scalar"
                for t in tree_flatten((args, kwargs))[0]
                if isinstance(t, torch.Tensor)
            ]
            out.write(f"{self.n} {name} in={','.join(shapes)} out={' '.join(digests)}\n")
            self.n += 1
            return result

    cfg = load_config("nb201", [f"controller.epochs={epochs}", "controller.pseudo_labels=0"])
    space = get_space("nb201")
    rng = random.Random(0)
    pool = []
    for arch in space.sample_unique(20, rng):
        e = entry(space, arch, source="random")
        e.status, e.accuracy = "ok", round(80 + 10 * rng.random(), 2)
        pool.append(e)
    log = OpLog()
    with log if step in ("fit", "all") else contextlib.nullcontext():
        model, _ = controller.fit(space, pool, cfg.controller, seed=1)
    if step == "fit":
        return
    with log if step in ("optimize", "all") else contextlib.nullcontext():
        emb = controller.optimize_embeddings(model, pool, top_k=5)
    if step == "optimize":
        return
    etas = controller.eta_ladder(cfg.search.eta, cfg.search.eta_growth, cfg.search.eta_max)
    with log:
        controller.decode_candidates(model, emb, etas=etas, known_ids=set(), beam=cfg.search.beam)


def first_difference(a: list[str], b: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            before = f"\n  the op before matches: {a[i - 1].strip()}" if i else ""
            return f"first difference at op {i}:\n  {x.strip()}\n  {y.strip()}{before}"
    if len(a) != len(b):
        return f"the logs agree for {min(len(a), len(b))} ops, then one has more"
    return f"the logs are equal ({len(a)} ops)"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    ops = sub.add_parser("ops", help="replay a step, logging every op's output digest")
    ops.add_argument("--step", choices=STEPS, default="fit")
    ops.add_argument("--epochs", type=int, default=2, help="controller epochs of the fit")
    ops.add_argument("--out", type=Path, required=True)
    d = sub.add_parser("diff", help="the first op whose output differs between two logs")
    d.add_argument("a", type=Path)
    d.add_argument("b", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "ops":
        with open(args.out, "w") as f:
            replay(args.step, f, args.epochs)
        print(f"{args.out}: {sum(1 for _ in open(args.out))} ops")
        return 0
    text = first_difference(args.a.read_text().splitlines(), args.b.read_text().splitlines())
    print(text)
    return 0 if text.startswith("the logs are equal") else 1


if __name__ == "__main__":
    sys.exit(main())
