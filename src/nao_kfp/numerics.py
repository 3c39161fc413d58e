"""Portable float results: the same numbers from torch on any x86-64 CPU.

torch picks its CPU kernels by instruction set (AVX2, AVX-512) and MKL picks its code paths by
CPU vendor, so a NAO run with a fixed seed gives the same result twice on one machine but can
differ on another (the reproduce reference made on an AMD machine did not reproduce on an Intel
one). `pin()` makes a process use the paths every x86-64 CPU has: ATen's default (non-vector)
kernels, MKL's conditional numerical reproducibility in COMPATIBLE mode, no oneDNN, one thread.
It costs speed (the reproduce runs take about 1.5x as long), so only the reproducibility check
uses it. Both environment variables are read when torch loads, so it must run before torch is
imported; the reproduce components call it first thing.
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


def describe() -> str:
    """'portable' when this process runs torch with ENV's settings, else the native description."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "DEFAULT" and os.environ.get("MKL_CBWR") == ENV["MKL_CBWR"]:
        return "portable"
    return f"native {capability}"
