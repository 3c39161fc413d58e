"""Quality of a controller: pairwise accuracy of f (paper §4.1) and Hamming distance of D(E(x))."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from nao_kfp.errors import NaoError

if TYPE_CHECKING:  # merge computes pairwise accuracy without torch
    import torch

# rows per block of the pair matrix: bounds memory at ~ROWS x N booleans for large tables
_ROWS = 1024


def pairwise_accuracy(pred: Sequence[float], true: Sequence[float]) -> float:
    """Fraction of pairs i < j whose order f gets right, exactly as the official NAO code counts:
    a pair is right when `pred_i >= pred_j` and `true_i >= true_j` agree (so ties count as >=)."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise NaoError(f"pairwise accuracy: {p.size} predictions for {t.size} true values")
    n = p.size
    if n < 2:
        raise NaoError(f"pairwise accuracy: needs at least 2 architectures, got {n}")
    right = 0
    for lo in range(0, n, _ROWS):
        hi = min(lo + _ROWS, n)
        agree = (p[lo:hi, None] >= p[None, :]) == (t[lo:hi, None] >= t[None, :])
        # keep j > i only
        upper = np.arange(n)[None, :] > np.arange(lo, hi)[:, None]
        right += int(np.count_nonzero(agree & upper))
    return right / (n * (n - 1) // 2)


def hamming(decoded: torch.Tensor, tokens: torch.Tensor) -> float:
    """Mean number of positions where the decoded sequence differs from the original."""
    if decoded.numel() == 0:
        return 0.0
    return float((decoded != tokens).sum(dim=1).float().mean())
