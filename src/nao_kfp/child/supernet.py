"""Weight-sharing supernets (NAO-WS, Luo et al. 2018, §3.4): one network holding the weights of
every choice of a space, so that any architecture of the space is a path through it.

build_supernet(space, spec) -> CellSupernet (nasnet, enas) or Nb201Supernet (nb201)
net(x, arch) -> logits: runs only the chosen ops on the chosen inputs

CellSupernet follows the official NAO-WS code (NAO_V1/model_search.py): the skeleton of
cnn.CellNetwork (stem, 3N+2 cells, reductions at N and 2N+1), and in every cell, for every node
and every input the node may read, one module per op, so that an op's weights depend on where it
reads from. A cell's output concatenates the states no node consumes, like a stand-alone cell,
and a shared 1×1 ReLU-conv-BN (one C×C weight slice per state) maps that concatenation back to C
channels, so every cell has the same output shape whatever the architecture. Unlike the official
code, a node's two branches share their per-(input, op) modules: the two branch orders of a node
are the same network (spaces.cell treats them as one), and with this sharing they also get the
same weights and score.

Nb201Supernet is nb201net's benchmark skeleton whose cells hold the 4 parametric ops of every
edge (`none` has no weights and is never run).

Only the sampled architecture's modules take part in a forward pass, so after a backward pass
the gradients of every other op are None (checked by tests/test_supernet.py).
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp.child.cnn import Calibrate, NetSpec, Shape, _down
from nao_kfp.child.nb201net import CELL_OPS, DropPathCell, Nb201Skeleton, cell_forward
from nao_kfp.child.ops import OPS, FactorizedReduce, drop_path, nchw, schedule_drop_path
from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.spaces import (
    Arch,
    CellArch,
    CellSpace,
    Nb201Arch,
    SearchSpace,
    declaring,
    get_space,
    resolve,
)
from nao_kfp.spaces.nb201 import EDGES


class Combine(nn.Module):
    """ReLU, a 1×1 conv of the concatenated cell outputs to C channels, BN. One C×C weight per
    state that can be an output (official NAO-WS: final_combine_conv), so any subset maps to C."""

    def __init__(self, states: int, channels: int):
        super().__init__()
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(channels, channels, 1, 1)) for _ in range(states)
        )
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, outs: list[torch.Tensor], which: list[int]) -> torch.Tensor:
        w = torch.cat([self.weights[i] for i in which], dim=1)
        return self.bn(F.conv2d(F.relu(torch.cat(outs, dim=1)), w))


class SuperCell(nn.Module):
    def __init__(
        self, ops: tuple[str, ...], nodes: int, s0: Shape, s1: Shape, channels: int, reduction: bool
    ):
        super().__init__()
        self.calibrate = Calibrate(s0, s1, channels)
        self.op_index = {op: i for i, op in enumerate(ops)}
        self.nodes, self.reduction = nodes, reduction
        # edges[k][i][o]: op o of node k reading state i (the cell inputs are strided in a reduction)
        self.edges = nn.ModuleList(
            nn.ModuleList(
                nn.ModuleList(
                    OPS[op](channels, 2 if reduction and i < 2 else 1, True) for op in ops
                )
                for i in range(k + 2)
            )
            for k in range(nodes)
        )
        # an unconsumed cell input of a reduction cell is still at full size: reduce it to fit
        self.fit = nn.ModuleList(
            FactorizedReduce(channels, channels) for _ in range(2 if reduction else 0)
        )
        self.combine = Combine(nodes + 2, channels)
        self.out_shape: Shape = (_down(s1[0]) if reduction else s1[0], channels)
        self.drop_prob = 0.0

    def edge(self, node: int, inp: int, op: int) -> nn.Module:
        return cast(nn.ModuleList, cast(nn.ModuleList, self.edges[node])[inp])[op]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, cell: tuple) -> torch.Tensor:
        if len(cell) != self.nodes:
            raise ArchError(f"supernet: expected a cell of {self.nodes} nodes, got {len(cell)}")
        states = self.calibrate(s0, s1)
        used = [False] * (self.nodes + 2)
        for k, (in1, op1, in2, op2) in enumerate(cell):
            total = None
            for inp, op in ((in1, op1), (in2, op2)):
                if not 0 <= inp < k + 2 or op not in self.op_index:
                    raise ArchError(f"supernet: node {k} cannot read {op}~{inp}")
                used[inp] = True
                h = self.edge(k, inp, self.op_index[op])(states[inp])
                strided = self.reduction and inp < 2
                if self.training and not (op == "identity" and not strided):
                    h = drop_path(h, self.drop_prob)
                total = h if total is None else total + h
            states.append(total)
        concat = [i for i, u in enumerate(used) if not u]
        outs = [self.fit[i](states[i]) if self.reduction and i < 2 else states[i] for i in concat]
        return self.combine(outs, concat)


class CellSupernet(nn.Module):
    def __init__(self, space: CellSpace, spec: NetSpec):
        super().__init__()
        if spec.imagenet:
            raise ConfigError("supernet: the ImageNet stem is not supported (CIFAR-sized input)")
        self.spec, self.space_name = spec, space.name
        n, f = spec.layers, spec.channels
        c = spec.stem_multiplier * f
        self.stem = nn.Sequential(
            nn.Conv2d(spec.in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        )
        shapes = [(spec.input_size, c), (spec.input_size, c)]
        reductions = (n, 2 * n + 1)
        self.cells = nn.ModuleList()
        channels = f
        for i in range(3 * n + 2):
            reduction = i in reductions
            if reduction:
                channels *= 2
            cell = SuperCell(space.ops, space.nodes, shapes[0], shapes[1], channels, reduction)
            self.cells.append(cell)
            shapes = [shapes[1], cell.out_shape]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(shapes[1][1], spec.classes)
        for w in self.parameters():
            if w.dim() >= 2:
                nn.init.kaiming_normal_(w)

    def set_drop_path(self, drop_prob: float, progress: float) -> None:
        schedule_drop_path(self.cells, drop_prob, progress)

    def forward(self, x: torch.Tensor, arch: CellArch) -> torch.Tensor:
        if x.device.type == "cpu":  # see ops.nchw
            x = nchw(x)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            assert isinstance(cell, SuperCell)
            s0, s1 = s1, cell(s0, s1, arch.reduce if cell.reduction else arch.normal)
        return self.classifier(self.pool(s1).flatten(1))


class Nb201SuperCell(DropPathCell):
    def __init__(self, channels: int):
        super().__init__()
        self.op_names = tuple(CELL_OPS)
        self.edges = nn.ModuleList(
            nn.ModuleList(CELL_OPS[op](channels, 1, True) for op in self.op_names) for _ in EDGES
        )

    def forward(self, x: torch.Tensor, arch: Nb201Arch) -> torch.Tensor:
        def edge_op(e: int) -> nn.Module | None:
            op = arch.ops[e]
            if op == "none":
                return None
            if op not in CELL_OPS:
                raise ArchError(f"supernet: nb201 edge {e} has unknown op {op!r}")
            return cast(nn.ModuleList, self.edges[e])[self.op_names.index(op)]

        p = self.drop_prob if self.training else 0.0
        return cell_forward(x, edge_op, p, lambda e: arch.ops[e] == "skip_connect")


class Nb201Supernet(Nb201Skeleton):
    def __init__(self, space: SearchSpace[Arch], spec: NetSpec):
        super().__init__(spec, Nb201SuperCell)

    def forward(self, x: torch.Tensor, arch: Nb201Arch) -> torch.Tensor:
        return self._run(x, lambda cell, h: cell(h, arch))


def build_supernet(space: SearchSpace[Arch], spec: NetSpec) -> CellSupernet | Nb201Supernet:
    """The supernet an image space declares (SearchSpace.supernet), built as Class(space, spec);
    spec.layers is N cells per stage, spec.channels F (C)."""
    if not space.supernet or space.data != "image":
        raise ArchError(
            f"space: {space.name} has no image supernet "
            f"({', '.join(n for n in declaring('supernet') if get_space(n).data == 'image')} do)"
        )
    net: CellSupernet | Nb201Supernet = resolve(space.supernet)(space, spec)
    return net
