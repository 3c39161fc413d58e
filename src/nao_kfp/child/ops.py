"""The operations a cell branch can apply, as data: OPS maps an op name to `lambda C, stride, affine`.

The names are those of the `nasnet` (11 ops) and `enas` (5 ops) spaces. Every op keeps C channels
(the cell calibrates its inputs to C first) and maps an H×W input to ceil(H/stride)×ceil(W/stride),
for odd and even sizes alike, so any two branches of a node can be added.
Construction details follow the official NAO PyTorch code so that parameter counts match the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn


class ReLUConvBN(nn.Sequential):
    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True
    ):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class StackedConv(nn.Sequential):
    """1×k then k×1: two ReLU-conv-BN blocks, the stride split between the two axes."""

    def __init__(self, c: int, k: int, stride: int, affine: bool = True):
        pad = k // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, (1, k), stride=(1, stride), padding=(0, pad), bias=False),
            nn.BatchNorm2d(c, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, (k, 1), stride=(stride, 1), padding=(pad, 0), bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable blocks (ReLU, depthwise k×k, pointwise 1×1, BN), as DARTS."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, affine: bool = True):
        pad = k // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=stride, padding=pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride=1, padding=pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing every other pixel: two strided 1×1 convs, the second
    shifted by one pixel, concatenated. Odd sizes give ceil(H/2) on both paths."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True, relu: bool = False):
        super().__init__()
        self.relu = nn.ReLU(inplace=False) if relu else nn.Identity()
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv1(x), self.conv2(shifted)], dim=1))


class Pool2x2(nn.Module):
    """A 2×2 pool, padded by one pixel at the right and bottom so that stride 1 keeps the size and
    stride 2 gives ceil(H/2) like the other ops. Max pools pad with -inf (the pad never wins);
    average pools pad with zeros, as the official code does."""

    def __init__(self, kind: str, stride: int):
        super().__init__()
        self.kind, self.stride = kind, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            return F.max_pool2d(F.pad(x, (0, 1, 0, 1), value=float("-inf")), 2, self.stride)
        return F.avg_pool2d(F.pad(x, (0, 1, 0, 1)), 2, self.stride)


def _avg(k: int, stride: int) -> nn.Module:
    return nn.AvgPool2d(k, stride=stride, padding=k // 2, count_include_pad=False)


def _max(k: int, stride: int) -> nn.Module:
    return nn.MaxPool2d(k, stride=stride, padding=k // 2)


def identity(c: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)


OpFactory = Callable[[int, int, bool], nn.Module]

OPS: dict[str, OpFactory] = {
    "identity": identity,
    "conv_1x1": lambda c, stride, affine: ReLUConvBN(c, c, 1, stride, 0, affine),
    "conv_3x3": lambda c, stride, affine: ReLUConvBN(c, c, 3, stride, 1, affine),
    "conv_1x3_3x1": lambda c, stride, affine: StackedConv(c, 3, stride, affine),
    "conv_1x7_7x1": lambda c, stride, affine: StackedConv(c, 7, stride, affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, affine),
    "max_pool_2x2": lambda c, stride, affine: Pool2x2("max", stride),
    "max_pool_3x3": lambda c, stride, affine: _max(3, stride),
    "max_pool_5x5": lambda c, stride, affine: _max(5, stride),
    "avg_pool_2x2": lambda c, stride, affine: Pool2x2("avg", stride),
    "avg_pool_3x3": lambda c, stride, affine: _avg(3, stride),
    "avg_pool_5x5": lambda c, stride, affine: _avg(5, stride),
}


def nchw(x: torch.Tensor) -> torch.Tensor:
    """x with the standard N×C×H×W strides (a copy only when it has others).

    A one-channel batch made by permuting N×H×W×C is `is_contiguous()` yet has channels-last
    strides, so `.contiguous()` keeps them and oneDNN then runs channels-last kernels on the CPU.
    torch 2.14's CPU backward of a channels-last strided 1×1 conv with fewer than 8 channels (a
    FactorizedReduce in a small child) corrupts the heap and aborts the process."""
    want, acc = [], 1
    for n in reversed(x.shape):
        want.append(acc)
        acc *= n
    if x.stride() == tuple(reversed(want)):
        return x
    return x.clone(memory_format=torch.contiguous_format)


def schedule_drop_path(cells: Iterable[nn.Module], drop_prob: float, progress: float) -> None:
    """Set each cell's drop_prob: deeper cells and later epochs drop more,
    p = drop_prob * depth ratio * progress (progress clipped to [0, 1])."""
    ordered = list(cells)
    for i, cell in enumerate(ordered):
        # a plain float attribute, which nn.Module's typed __setattr__ does not describe
        p = drop_prob * (i + 1) / len(ordered) * min(max(progress, 0.0), 1.0)
        cell.drop_prob = p  # type: ignore[assignment]


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples of a branch with probability drop_prob and rescale the rest, so the
    expectation is unchanged."""
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep
