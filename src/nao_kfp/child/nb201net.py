"""The NAS-Bench-201 network (`nb201`): the benchmark's fixed skeleton around one searched cell.

Layout (Dong & Yang, ICLR 2020; xautodl's TinyNetwork and InferCell): a 3×3 conv stem to C
channels and BN, then 3 stages of N cells at C, 2C and 4C channels with a residual reduction
block between stages, then BN-ReLU, global average pooling and a linear classifier. A cell is a
DAG of 4 nodes: node j sums op(node i) over its edges i < j, and the cell outputs node 3. Every
op keeps the channels and the size. With N=5 and C=16 on CIFAR-10 the parameter counts are the
benchmark's: 73,306 with every edge `none`, 1,531,546 with every edge `nor_conv_3x3`.

The skeleton is shared with the weight-sharing supernet (child/supernet.py), which only swaps
the cell for one that holds every op on every edge.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nao_kfp.child.cnn import NetSpec
from nao_kfp.child.ops import (
    FactorizedReduce,
    OpFactory,
    ReLUConvBN,
    drop_path,
    nchw,
    schedule_drop_path,
)
from nao_kfp.errors import ArchError
from nao_kfp.spaces.nb201 import EDGES, NB201_OPS, Nb201Arch


def _skip(c: int, stride: int, affine: bool) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)


# `none` is never built: its edge adds nothing (a node with no other input is zeros).
CELL_OPS: dict[str, OpFactory] = {
    "skip_connect": _skip,
    "nor_conv_1x1": lambda c, stride, affine: ReLUConvBN(c, c, 1, stride, 0, affine),
    "nor_conv_3x3": lambda c, stride, affine: ReLUConvBN(c, c, 3, stride, 1, affine),
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(
        3, stride=stride, padding=1, count_include_pad=False
    ),
}
assert set(CELL_OPS) | {"none"} == set(NB201_OPS)


def cell_forward(
    x: torch.Tensor,
    edge_op: Callable[[int], nn.Module | None],
    drop_prob: float,
    identity: Callable[[int], bool],
) -> torch.Tensor:
    """One pass through the 4-node DAG. edge_op(e) is the module of edge e (None for `none`)."""
    nodes = [x]
    for to in range(1, 4):
        total: torch.Tensor | None = None
        for e, (dst, src) in enumerate(EDGES):
            op = edge_op(e)
            if dst != to or op is None:
                continue
            h = op(nodes[src])
            if drop_prob > 0 and not identity(e):
                h = drop_path(h, drop_prob)
            total = h if total is None else total + h
        # As in the benchmark, edges out of an all-`none` node still run their ops (on zeros).
        nodes.append(torch.zeros_like(x) if total is None else total)
    return nodes[3]


class DropPathCell(nn.Module):
    drop_prob: float = 0.0  # set by the network from the training progress


class Nb201Cell(DropPathCell):
    def __init__(self, arch: Nb201Arch, channels: int):
        super().__init__()
        for op in arch.ops:
            if op != "none" and op not in CELL_OPS:
                raise ArchError(f"child: nb201 op {op!r} has no implementation")
        self.ops = arch.ops
        self.edges = nn.ModuleList(
            nn.Identity() if op == "none" else CELL_OPS[op](channels, 1, True) for op in arch.ops
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.drop_prob if self.training else 0.0
        return cell_forward(
            x,
            lambda e: None if self.ops[e] == "none" else self.edges[e],
            p,
            lambda e: self.ops[e] == "skip_connect",
        )


class ResidualReduce(nn.Module):
    """The benchmark's reduction block (a ResNet basic block at stride 2): two ReLU-conv-BN 3×3
    convs, the first strided, plus a 2×2 average pool and 1×1 conv on the shortcut."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        # ceil_mode: odd sizes give ceil(H/2) like the strided conv (even sizes: the benchmark's)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Nb201Skeleton(nn.Module):
    """Stem, 3 stages of N cells (built by make_cell(channels)) with reductions between them,
    BN-ReLU, pooling and the classifier; spec.layers is N and spec.channels C."""

    def __init__(self, spec: NetSpec, make_cell: Callable[[int], DropPathCell]):
        super().__init__()
        self.spec = spec
        c = spec.channels
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        )
        self.blocks = nn.ModuleList()
        self.cells: list[DropPathCell] = []  # the cells among the blocks (no second registration)
        prev = c
        for stage in range(3):
            width = c * 2**stage
            if stage > 0:
                self.blocks.append(ResidualReduce(prev, width))
            for _ in range(spec.layers):
                cell = make_cell(width)
                self.blocks.append(cell)
                self.cells.append(cell)
            prev = width
        self.lastact = nn.Sequential(nn.BatchNorm2d(prev), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(prev, spec.classes)

    def set_drop_path(self, drop_prob: float, progress: float) -> None:
        """ops.schedule_drop_path (the benchmark trains with 0)."""
        schedule_drop_path(self.cells, drop_prob, progress)

    def _run(
        self, x: torch.Tensor, cell: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        if x.device.type == "cpu":  # see ops.nchw
            x = nchw(x)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x) if isinstance(block, ResidualReduce) else cell(block, x)
        return self.classifier(self.dropout(self.pool(self.lastact(x)).flatten(1)))


class Nb201Network(Nb201Skeleton):
    """A stand-alone NAS-Bench-201 network; forward returns (logits, None) like CellNetwork
    (there is no auxiliary head)."""

    def __init__(self, arch: Nb201Arch, spec: NetSpec):
        super().__init__(spec, lambda c: Nb201Cell(arch, c))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self._run(x, lambda cell, h: cell(h)), None
