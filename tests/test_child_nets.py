"""Child networks: the ops table, cells and networks, the paper's parameter counts, drop-path."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
import torch

from nao_kfp.child import NetSpec, build_network, count_params
from nao_kfp.child.cnn import CellNetwork
from nao_kfp.child.data import augment
from nao_kfp.child.ops import OPS, drop_path, nchw
from nao_kfp.spaces import get_space

NAONET_A = "0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7 0 7 1 13 0 6 0 14 0 9 1 10 0 14 2 6 1 11 0 7"
NAONET_B = "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3 1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2"


@pytest.mark.parametrize(
    ("space", "arch", "layers", "channels", "dataset", "paper"),
    [
        ("nasnet", NAONET_A, 6, 128, "cifar10", 144.6e6),  # Table 1, NAONet-A
        ("enas", NAONET_B, 5, 36, "cifar10", 2.5e6),  # Table 1, NAONet-WS
        ("nasnet", NAONET_A, 4, 42, "imagenet", 11.35e6),  # Table 3, mobile setting
    ],
)
def test_paper_parameter_counts(
    space: str, arch: str, layers: int, channels: int, dataset: str, paper: float
) -> None:
    sp = get_space(space)
    counts = count_params(
        sp, sp.parse_official(arch), layers=layers, channels=channels, dataset=dataset
    )
    assert abs(counts["params_without_aux"] - paper) / paper < 0.01
    assert counts["params"] > counts["params_without_aux"]  # the aux head is counted separately
    assert counts["macs"] > counts["params_without_aux"]


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("size", [7, 8])
def test_every_op_at_stride_1_and_2_on_odd_and_even_sizes(name: str, size: int) -> None:
    c = 4
    x = torch.randn(2, c, size, size)
    for stride, want in ((1, size), (2, (size + 1) // 2)):
        op = OPS[name](c, stride, True)
        y = op(x)
        assert tuple(y.shape) == (2, c, want, want), (name, stride)


def test_max_pool_2x2_padding_never_wins() -> None:
    x = -torch.ones(1, 1, 5, 5)  # zero padding would put 0 on the right and bottom borders
    for stride in (1, 2):
        y = OPS["max_pool_2x2"](1, stride, True)(x)
        assert torch.equal(y, -torch.ones_like(y))


def test_identity_at_stride_2_is_a_learned_reduction() -> None:
    assert isinstance(OPS["identity"](4, 1, True), torch.nn.Identity)
    assert sum(p.numel() for p in OPS["identity"](4, 2, True).parameters()) > 0


@pytest.mark.parametrize(("in_ch", "size"), [(1, 8), (3, 9), (3, 32)])
def test_network_shapes_for_any_input(in_ch: int, size: int) -> None:
    sp = get_space("nasnet")
    arch = sp.sample_unique(1, random.Random(size))[0]
    net = build_network(
        sp,
        arch,
        NetSpec(layers=1, channels=4, classes=7, in_channels=in_ch, input_size=size, aux_head=True),
    )
    net.train()
    logits, aux = net(torch.randn(3, in_ch, size, size))
    assert logits.shape == (3, 7) and aux is not None and aux.shape == (3, 7)
    net.eval()
    logits, aux = net(torch.randn(3, in_ch, size, size))
    assert logits.shape == (3, 7) and aux is None


# Every branch an identity: each reduction cell is FactorizedReduce (strided 1x1 convs) on 8 or
# fewer channels, the case where torch 2.14's channels-last CPU backward corrupts the heap.
ALL_IDENTITY = (
    "normal[identity~0 identity~1 | identity~0 identity~2 | identity~3 identity~2 | identity~2 "
    "identity~1 | identity~4 identity~5] reduce[identity~0 identity~1 | identity~2 identity~1 | "
    "identity~0 identity~3 | identity~3 identity~1 | identity~0 identity~4]"
)
CHANNELS_LAST_ONE_CHANNEL = f"""
import torch
import torch.nn.functional as F
from nao_kfp.child.cnn import CellNetwork, NetSpec
from nao_kfp.spaces import get_space
torch.manual_seed(0)
torch.set_num_threads(1)  # as the tiny children run; the crash shows on one thread
net = CellNetwork(get_space("enas").parse({ALL_IDENTITY!r}), NetSpec(1, 4, in_channels=1, input_size=8))
for _ in range(20):
    x = torch.randn(16, 8, 8, 1).permute(0, 3, 1, 2)  # "contiguous", channels-last strides
    logits, _ = net(x)
    F.cross_entropy(logits, torch.randint(0, 10, (16,))).backward()
print("trained")
"""


def test_one_channel_batches_with_channels_last_strides_train_on_cpu() -> None:
    # in a child process: the bug this guards against aborts the process instead of raising
    proc = subprocess.run(
        [sys.executable, "-c", CHANNELS_LAST_ONE_CHANNEL], capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "trained", proc.stderr[-2000:]


def test_nchw_gives_standard_strides_and_copies_only_when_needed() -> None:
    x = torch.randn(4, 8, 8, 1).permute(0, 3, 1, 2)
    assert x.is_contiguous() and x.stride() != (64, 64, 8, 1)  # why .contiguous() is not enough
    y = nchw(x)
    assert y.stride() == (64, 64, 8, 1) and torch.equal(x, y)
    assert nchw(y) is y
    # augmentation (a gather over N×H×W×C) hands out standard strides for one-channel images
    out = augment(
        torch.rand(5, 1, 8, 8), torch.Generator().manual_seed(0), pad=1, flip=True, cutout=2
    )
    assert out.stride() == (64, 64, 8, 1)


def test_cell_output_concatenates_the_unused_nodes() -> None:
    sp = get_space("enas")
    arch = sp.parse_official(NAONET_B)
    net = CellNetwork(arch, NetSpec(layers=1, channels=4))
    unused = [i for i in range(2, 7) if all(i not in (n[0], n[2]) for n in arch.normal)]
    assert net.cells[0].concat == unused
    assert net.cells[0].out_shape == (32, 4 * len(unused))


def test_drop_path_keeps_the_expectation() -> None:
    torch.manual_seed(0)
    x = torch.ones(20000, 1, 1, 1)
    for p in (0.0, 0.3, 0.7):
        y = drop_path(x, p)
        assert abs(float(y.mean()) - 1.0) < 0.03
        assert abs(float((y == 0).float().mean()) - p) < 0.02


def test_drop_path_grows_with_depth_and_progress() -> None:
    sp = get_space("enas")
    net = CellNetwork(sp.parse_official(NAONET_B), NetSpec(layers=1, channels=4))
    net.set_drop_path(0.4, 0.0)
    assert all(c.drop_prob == 0.0 for c in net.cells)
    net.set_drop_path(0.4, 0.5)
    probs = [c.drop_prob for c in net.cells]
    assert probs == sorted(probs) and probs[-1] == pytest.approx(0.2)
    net.set_drop_path(0.4, 1.0)
    assert net.cells[-1].drop_prob == pytest.approx(0.4)
