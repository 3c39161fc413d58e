"""NASNet-style networks built from a CellArch (a normal and a reduction cell).

Layout (as the official NAO code): a stem, then N normal cells, a reduction cell, N normal, a
reduction, N normal; channels double at each reduction. Every cell takes the outputs of the two
previous cells, calibrates them to its channel count (and resolution), and outputs the
concatenation of every state no node of the cell consumes. Shapes are tracked while building, so
any input size (odd or even) and channel count work.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nao_kfp.child.ops import (
    OPS,
    FactorizedReduce,
    ReLUConvBN,
    drop_path,
    nchw,
    schedule_drop_path,
)
from nao_kfp.config.bounds import DEPTH_WHY, MAX_DEPTH, MAX_WIDTH, WIDTH_WHY
from nao_kfp.config.keys import key
from nao_kfp.errors import ArchError
from nao_kfp.spaces import CellArch

Shape = tuple[int, int]  # (size, channels); images are square
AUX_CHANNELS, AUX_HIDDEN = 128, 768  # the NASNet / NAO auxiliary head


def _down(size: int) -> int:
    return (size + 1) // 2  # every stride-2 op here maps H to ceil(H/2)


class Calibrate(nn.Module):
    """Bring the two cell inputs to `channels` channels and a common size (the previous cell was a
    reduction when s0 is twice as large as s1)."""

    def __init__(self, s0: Shape, s1: Shape, channels: int):
        super().__init__()
        self.p0: nn.Module = nn.Identity()
        self.p1: nn.Module = nn.Identity()
        if s0[0] != s1[0]:
            if _down(s0[0]) != s1[0]:
                raise ValueError(f"cell inputs of sizes {s0[0]} and {s1[0]} cannot be aligned")
            self.p0 = FactorizedReduce(s0[1], channels, relu=True)
        elif s0[1] != channels:
            self.p0 = ReLUConvBN(s0[1], channels, 1, 1, 0)
        if s1[1] != channels:
            self.p1 = ReLUConvBN(s1[1], channels, 1, 1, 0)
        self.out = [(s1[0], channels), (s1[0], channels)]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> list[torch.Tensor]:
        return [self.p0(s0), self.p1(s1)]


class Cell(nn.Module):
    def __init__(self, nodes: tuple, s0: Shape, s1: Shape, channels: int, reduction: bool):
        super().__init__()
        self.calibrate = Calibrate(s0, s1, channels)
        self.inputs: list[int] = []
        self.is_identity: list[bool] = []
        self.branches = nn.ModuleList()
        shapes = list(self.calibrate.out)
        used = [False] * (len(nodes) + 2)
        for in1, op1, in2, op2 in nodes:
            out_shapes = []
            for inp, op in ((in1, op1), (in2, op2)):
                if op not in OPS:
                    raise ArchError(
                        f"child: op {op!r} has no implementation; expected one of {', '.join(OPS)}"
                    )
                stride = 2 if reduction and inp < 2 else 1  # only the cell inputs are strided
                self.branches.append(OPS[op](channels, stride, True))
                self.inputs.append(inp)
                self.is_identity.append(op == "identity" and stride == 1)
                used[inp] = True
                size = shapes[inp][0]
                out_shapes.append(_down(size) if stride == 2 else size)
            if out_shapes[0] != out_shapes[1]:
                raise ValueError(
                    f"node branches give sizes {out_shapes}"
                )  # cannot happen by construction
            shapes.append((out_shapes[0], channels))
        self.concat = [i for i, u in enumerate(used) if not u]
        size = min(shapes[i][0] for i in self.concat)
        # an unused cell input of a reduction cell is still at full size: reduce it to fit
        self.fit = nn.ModuleDict(
            {
                str(i): FactorizedReduce(shapes[i][1], channels)
                for i in self.concat
                if shapes[i][0] != size
            }
        )
        self.out_shape: Shape = (size, channels * len(self.concat))
        self.drop_prob = 0.0  # set by the network from the training progress

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = self.calibrate(s0, s1)
        for k in range(0, len(self.branches), 2):
            total = None
            for b in (k, k + 1):
                h = self.branches[b](states[self.inputs[b]])
                if self.training and not self.is_identity[b]:
                    h = drop_path(h, self.drop_prob)
                total = h if total is None else total + h
            assert total is not None
            states.append(total)
        outs = [
            self.fit[str(i)](states[i]) if str(i) in self.fit else states[i] for i in self.concat
        ]
        return torch.cat(outs, dim=1)


class AuxHead(nn.Module):
    """Auxiliary classifier after the second reduction. On CIFAR's 8×8 (ImageNet's 7×7) map it pools
    5×5 with stride 3 (2) to 2×2 as the official code does; other sizes pool adaptively to 2×2."""

    def __init__(self, shape: Shape, classes: int):
        super().__init__()
        size, c = shape
        pool: nn.Module
        if size == 8:
            pool = nn.AvgPool2d(5, stride=3, count_include_pad=False)
        elif size == 7:
            pool = nn.AvgPool2d(5, stride=2, count_include_pad=False)
        else:
            pool = nn.AdaptiveAvgPool2d(2)
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            pool,
            nn.Conv2d(c, AUX_CHANNELS, 1, bias=False),
            nn.BatchNorm2d(AUX_CHANNELS),
            nn.ReLU(inplace=False),
            nn.Conv2d(AUX_CHANNELS, AUX_HIDDEN, 2, bias=False),
            nn.BatchNorm2d(AUX_HIDDEN),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(AUX_HIDDEN, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


@dataclass(frozen=True)
class NetSpec:
    """Everything needed to rebuild a network (stored in checkpoints), with the values a
    checkpoint may hold (checked when one is read: nao_kfp.export)."""

    layers: int = key(doc="N cells per stage", min=1, max=MAX_DEPTH, why=DEPTH_WHY)
    channels: int = key(doc="F", min=1, max=MAX_WIDTH, why=WIDTH_WHY)
    classes: int = key(
        10, "outputs of the classifier", min=1, max=1_000_000, why="a row of the classifier each"
    )
    in_channels: int = key(3, "image channels", min=1, max=64, why="an image's channels")
    input_size: int = key(
        32, "image height and width", min=1, max=4096, why="an image's side in pixels"
    )
    imagenet: bool = key(False, "the ImageNet mobile stem (224×224 input)")
    aux_head: bool = key(False, "an auxiliary classifier head (training only)")
    dropout: float = key(0.0, "dropout before the classifier", min=0.0, max=1.0, exclusive="max")
    stem_multiplier: int = key(
        3, "the stem's channels: stem_multiplier * F", min=1, max=64, why="a multiple of F"
    )


class CellNetwork(nn.Module):
    def __init__(self, arch: CellArch, spec: NetSpec):
        super().__init__()
        self.spec = spec
        n, f = spec.layers, spec.channels
        if spec.imagenet:
            half = max(f // 2, 1)
            self.stem0 = nn.Sequential(
                nn.Conv2d(spec.in_channels, half, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=False),
                nn.Conv2d(half, f, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(f),
            )
            self.stem1: nn.Module = ReLUConvBN(f, f, 3, 2, 1)
            s = _down(_down(spec.input_size))
            shapes = [(s, f), (_down(s), f)]
        else:
            c = spec.stem_multiplier * f
            self.stem0 = nn.Sequential(
                nn.Conv2d(spec.in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
            )
            self.stem1 = nn.Identity()
            shapes = [(spec.input_size, c), (spec.input_size, c)]
        reductions = (n, 2 * n + 1)
        self.cells = nn.ModuleList()
        self.aux_index = reductions[-1] if spec.aux_head else -1
        self.aux_head: nn.Module | None = None
        channels = f
        for i in range(3 * n + 2):
            reduction = i in reductions
            if reduction:
                channels *= 2
            cell = Cell(
                arch.reduce if reduction else arch.normal, shapes[0], shapes[1], channels, reduction
            )
            self.cells.append(cell)
            shapes = [shapes[1], cell.out_shape]
            if i == self.aux_index:
                self.aux_head = AuxHead(cell.out_shape, spec.classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.dropout)
        self.classifier = nn.Linear(shapes[1][1], spec.classes)
        for w in self.parameters():
            if w.dim() >= 2:
                nn.init.kaiming_normal_(w)

    def set_drop_path(self, drop_prob: float, progress: float) -> None:
        schedule_drop_path(self.cells, drop_prob, progress)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.device.type == "cpu":  # channels-last is for CUDA; on the CPU it can crash (nchw)
            x = nchw(x)
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.aux_index and self.training and self.aux_head is not None:
                aux = self.aux_head(s1)
        out = self.dropout(self.pool(s1).flatten(1))
        return self.classifier(out), aux
