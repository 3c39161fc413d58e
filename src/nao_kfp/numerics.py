"""Portable float results: the same bits from torch on any x86-64 CPU, Intel or AMD.

torch picks its CPU kernels by instruction set (AVX2, AVX-512) and MKL picks its code paths by
CPU vendor and instruction set, so a NAO run with a fixed seed gives the same result twice on
one machine but can differ on another. `pin()` makes a process take the paths every x86-64 CPU
has: ATen's default (non-vector) kernels, MKL's conditional numerical reproducibility in
COMPATIBLE mode (its SGEMM, batched SGEMM, DGEMM and vector-math exp, log, tanh and erf then give
the same bits on every CPU we checked), no oneDNN, one thread.

One MKL path stays machine-dependent even so: its vector square root (vsSqrt, which ATen uses for
`torch.sqrt`, `pow(0.5)` and `torch._foreach_sqrt` on contiguous float tensors of 8 or more
elements) rounds differently on an AVX-512 Intel CPU than on an AMD EPYC or an older Intel one,
COMPATIBLE or not. Adam's foreach update takes its square root there, and that was the op where
NAO runs on Intel and AMD machines first parted (benchmarks/numerics_replay.py finds such an op).
The controller's optimizer therefore uses the fused Adam kernel, whose square root is ATen's own
(controller/train.py), and no step of the search calls torch.sqrt on a tensor.

Checked op by op (benchmarks/numerics_replay.py) on an Intel Xeon
(AVX-512, AMX) natively, with glibc's non-FMA math variants, and under qemu-user as an AMD EPYC
(Milan, AVX2), an Intel Skylake and an Intel Nehalem (no AVX): every op of the controller's fit,
embedding optimization and decoding gives the same bits. The pinned paths cost speed, so only the
reproducibility check uses them. Both environment variables are read when torch loads, so `pin()`
must run before torch is imported; the reproduce components call it first thing.
"""

from __future__ import annotations

import os
import sys

ENV = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class NumericsError(RuntimeError):
    pass


def pin() -> None:
    """Set the portable environment for this process and its children, then check that torch
    took it (raises NumericsError when torch was imported before with other settings)."""
    if "torch" not in sys.modules:
        os.environ.update(ENV)
    import torch

    mode = describe()
    if mode != "portable":
        raise NumericsError(
            f"portable numerics: torch was imported before pin() ({mode}); call pin() first"
        )
    torch.backends.mkldnn.set_flags(False)
    torch.set_num_threads(1)


def guarantee(torch_version: str) -> str:
    """What `nao reproduce` promises, in one line (the command prints it; the docs quote it)."""
    return (
        "bitwise: NAO, random search and evolution give the same results on any x86-64 CPU, "
        f"Intel or AMD, with torch {torch_version} and portable numerics"
    )


def describe() -> str:
    """'portable' when this process runs torch with ENV's settings, else the native description."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "DEFAULT" and os.environ.get("MKL_CBWR") == ENV["MKL_CBWR"]:
        return "portable"
    return f"native {capability}"
