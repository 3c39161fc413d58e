"""Weight sharing: supernet forward for every op, gradients only on the sampled path, bitwise resume
mid-schedule, deterministic scoring; the nb201 stand-alone child and the rerank step."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from nao_kfp.child import (
    NetSpec,
    build_supernet,
    count_params,
    load_split,
    score_archs,
    train_child,
    train_supernet,
)
from nao_kfp.child.data import Split
from nao_kfp.child.nb201net import CELL_OPS
from nao_kfp.config import Config, load_config
from nao_kfp.errors import ConfigError
from nao_kfp.final import best_of, rerank
from nao_kfp.spaces import CellArch, Nb201Arch, get_space
from nao_kfp.spaces.nb201 import NB201_OPS
from nao_kfp.store import LocalStore

# small and single-threaded: the CI machine has 2 shared cores
TINY = [
    "child.dataset=digits", "child.dev_size=64", "child.train_subset=128", "child.device=cpu",
    "child.amp=false", "child.cpu_threads=1", "child.layers=1", "child.channels=4",
    "child.batch_size=32", "child.lr_max=0.1",
    "supernet.layers=1", "supernet.channels=4", "supernet.batch_size=32", "supernet.epochs=3",
    "supernet.rounds_every=1", "supernet.lr_max=0.05", "supernet.drop_path=0.2",
    "supernet.eval_batch_size=32", "supernet.dev_batches=2", "supernet.bn_batches=2",
]  # fmt: skip


def tiny(*extra: str) -> Config:
    return load_config(None, [*TINY, *extra])


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """The modules run outside train_supernet's cpu_threads here; 2 shared cores contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> Split:
    return load_split(tiny().child)


def enas_uniform(op: str, reach: int) -> CellArch:
    """Every branch of both cells applies op; node k reads state min(reach, k+1) and one cell
    input (input 0 when reach is 0, else input 1, so that either can be a cell output)."""
    other = 0 if reach == 0 else 1
    cell = tuple((min(reach, k + 1), op, other, op) for k in range(5))
    return CellArch(cell, cell)


# ---------------------------------------------------------------- forward, every op


@pytest.mark.parametrize("size", [7, 8])
def test_enas_supernet_runs_every_op_on_every_input_at_stride_1_and_2(size: int) -> None:
    space = get_space("enas")
    torch.manual_seed(0)
    net = build_supernet(space, NetSpec(layers=1, channels=4, in_channels=1, input_size=size))
    x = torch.randn(2, 1, size, size)
    for op in space.ops:  # the reduction cells run every op on the cell inputs at stride 2
        for reach in range(7):  # with `0`, every (node, input) pair of the cells
            logits = net(x, enas_uniform(op, reach))
            assert logits.shape == (2, 10) and torch.isfinite(logits).all(), (op, reach)
            logits.sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing  # every module of the supernet took part in some forward pass


def test_nb201_supernet_runs_every_op() -> None:
    space = get_space("nb201")
    torch.manual_seed(0)
    net = build_supernet(space, NetSpec(layers=1, channels=4, in_channels=1, input_size=8))
    x = torch.randn(2, 1, 8, 8)
    for op in NB201_OPS:
        logits = net(x, Nb201Arch((op,) * 6))
        assert logits.shape == (2, 10) and torch.isfinite(logits).all(), op
        logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    for name, make in CELL_OPS.items():  # the cell ops themselves, at both strides
        for stride, want in ((1, 7), (2, 4)):
            assert make(4, stride, True)(torch.randn(2, 4, 7, 7)).shape == (2, 4, want, want), name


# ---------------------------------------------------------------- only the sampled path learns


def enas_used(net: Any, arch: CellArch) -> tuple[re.Pattern[str], set[str]]:
    """(pattern of arch-specific parameter names, the prefixes the arch uses)."""
    used: set[str] = set()
    for c, cell in enumerate(net.cells):
        nodes = arch.reduce if cell.reduction else arch.normal
        consumed = set()
        for k, (in1, op1, in2, op2) in enumerate(nodes):
            for inp, op in ((in1, op1), (in2, op2)):
                used.add(f"cells.{c}.edges.{k}.{inp}.{cell.op_index[op]}.")
                consumed.add(inp)
        for j in set(range(7)) - consumed:
            used.add(f"cells.{c}.combine.weights.{j}")
            if cell.reduction and j < 2:
                used.add(f"cells.{c}.fit.{j}.")
    return re.compile(
        r"cells\.\d+\.(edges\.\d+\.\d+\.\d+\.|combine\.weights\.\d+$|fit\.\d\.)"
    ), used


def nb201_used(net: Any, arch: Nb201Arch) -> tuple[re.Pattern[str], set[str]]:
    names = tuple(CELL_OPS)
    used = {
        f"blocks.{b}.edges.{e}.{names.index(op)}."
        for b, block in enumerate(net.blocks)
        if hasattr(block, "edges")
        for e, op in enumerate(arch.ops)
        if op != "none"
    }
    return re.compile(r"blocks\.\d+\.edges\.\d+\.\d+\."), used


@pytest.mark.parametrize("space_name", ["enas", "nb201"])
def test_the_supernet_runs_in_channels_last(space_name: str) -> None:
    # on CUDA with child.amp the supernet and its batches are channels_last (the layout bf16
    # convolutions want): every op must accept it and compute the same function and gradients
    space = get_space(space_name)
    torch.manual_seed(0)
    net = build_supernet(space, NetSpec(layers=1, channels=4, in_channels=3, input_size=8))
    net.eval()
    x = torch.randn(4, 3, 8, 8)
    for seed in range(3):
        arch = space.sample(random.Random(seed))
        net.to(memory_format=torch.contiguous_format)
        ref = net(x, arch)
        ref.sum().backward()
        grads = {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}
        net.zero_grad(set_to_none=True)
        net.to(memory_format=torch.channels_last)
        out = net(x.contiguous(memory_format=torch.channels_last), arch)
        out.sum().backward()
        assert torch.allclose(out, ref, rtol=1e-5, atol=1e-5 * max(float(ref.abs().max()), 1.0))
        for n, g in grads.items():
            # float32 rounding relative to the gradient's scale (stem gradients reach 1e3-1e4,
            # and AVX-512 kernels round differently per layout in the last bits)
            scale = float(g.abs().max())
            got = dict(net.named_parameters())[n].grad
            assert torch.allclose(got, g, rtol=1e-5, atol=1e-5 * max(scale, 1.0)), n
        net.zero_grad(set_to_none=True)


@pytest.mark.parametrize("space_name", ["enas", "nb201"])
def test_a_sampled_architecture_trains_only_its_own_weights(space_name: str) -> None:
    space = get_space(space_name)
    torch.manual_seed(0)
    net = build_supernet(space, NetSpec(layers=2, channels=4, in_channels=1, input_size=8))
    for seed in range(3):
        arch = space.sample(random.Random(seed))
        net.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(
            net(torch.randn(4, 1, 8, 8), arch), torch.arange(4)
        ).backward()
        specific, used = (enas_used if space_name == "enas" else nb201_used)(net, arch)
        for name, p in net.named_parameters():
            mine = not specific.match(name) or any(name.startswith(u) for u in used)
            if mine:
                assert p.grad is not None, name
            else:
                assert p.grad is None or not p.grad.any(), name
        # a step of SGD with momentum and weight decay leaves the other ops' weights as they were
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1).step()
        for name, p in net.named_parameters():
            if specific.match(name) and not any(name.startswith(u) for u in used):
                assert torch.equal(p, before[name]), name


# ---------------------------------------------------------------- training, resume, scoring


def pools(space_name: str) -> tuple[list[Any], list[Any]]:
    space = get_space(space_name)
    archs = space.sample_unique(6, random.Random(3))
    return archs[:4], archs[2:]


class Killed(Exception):
    pass


@pytest.mark.parametrize("space_name", ["enas", "nb201"])
def test_resume_from_a_mid_round_checkpoint_gives_bitwise_the_same_supernet(
    space_name: str, digits: Split, tmp_path: Path
) -> None:
    space, cfg = get_space(space_name), tiny()
    first, second = pools(space_name)
    # uninterrupted: round 1 on one pool to epoch 1, round 2 on the next pool to epoch 3
    train_supernet(space, cfg, first, digits, tmp_path / "a", epochs_to=1, seed=5)
    done = train_supernet(space, cfg, second, digits, tmp_path / "a", epochs_to=3, seed=5)
    assert done["epoch"] == 3 and [h["pool"] for h in done["history"]] == [4, 4, 4]

    def kill_at_epoch_2(path: Path) -> None:  # the first checkpoint of this call is epoch 2's
        raise Killed

    train_supernet(space, cfg, first, digits, tmp_path / "b", epochs_to=1, seed=5)
    with pytest.raises(Killed):
        train_supernet(
            space, cfg, second, digits, tmp_path / "b", epochs_to=3, seed=5,
            on_checkpoint=kill_at_epoch_2,
        )  # fmt: skip
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["epoch"] == 2
    lines: list[str] = []
    train_supernet(
        space, cfg, second, digits, tmp_path / "b", epochs_to=3, seed=5, log=lines.append
    )
    assert any("resuming at epoch 3" in line for line in lines)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for k, sa in a["optimizer"]["state"].items():
        assert torch.equal(sa["momentum_buffer"], b["optimizer"]["state"][k]["momentum_buffer"])
    for epoch in (1, 3):  # the snapshots each round scores
        name = f"supernet-epoch{epoch:03d}.pt"
        sa = torch.load(tmp_path / "a" / name, weights_only=True)["model"]
        sb = torch.load(tmp_path / "b" / name, weights_only=True)["model"]
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # training to an epoch already reached trains nothing
    again = train_supernet(space, cfg, second, digits, tmp_path / "a", epochs_to=1, seed=5)
    assert again["epoch"] == 3 and again["snapshot"].endswith("supernet-epoch001.pt")


@pytest.mark.parametrize("space_name", ["enas", "nb201"])
def test_scores_are_fixed_per_architecture(space_name: str, digits: Split, tmp_path: Path) -> None:
    space, cfg = get_space(space_name), tiny()
    first, _ = pools(space_name)
    train_supernet(space, cfg, first, digits, tmp_path, epochs_to=1, seed=0)
    archs = space.sample_unique(4, random.Random(9))
    for bn in ("train", "recalibrate", "running"):
        scores = score_archs(space, cfg, archs, digits, tmp_path, epoch=1, bn=bn)
        assert len(scores) == 4 and all(0.0 <= s <= 1.0 for s in scores)
        assert all(s * 64 == round(s * 64) for s in scores)  # 2 batches of 32 dev images
        # the same numbers again, and in any order: an arch's score depends on it alone
        assert (
            score_archs(space, cfg, archs[::-1], digits, tmp_path, epoch=1, bn=bn) == scores[::-1]
        )
    if space_name == "enas":  # swapped branches are the same network, with the same weights
        rng = random.Random(0)
        swapped = [space.random_symmetric(a, rng) for a in archs]
        assert swapped != archs
        assert score_archs(space, cfg, swapped, digits, tmp_path) == score_archs(
            space, cfg, archs, digits, tmp_path
        )


def test_scoring_and_resuming_errors_name_the_key(digits: Split, tmp_path: Path) -> None:
    space = get_space("nb201")
    first, _ = pools("nb201")
    train_supernet(space, tiny(), first, digits, tmp_path, epochs_to=1, seed=0)
    with pytest.raises(ConfigError, match="supernet.dev_batches"):
        score_archs(space, tiny("supernet.dev_batches=3"), first, digits, tmp_path)
    with pytest.raises(ConfigError, match="supernet.channels"):
        train_supernet(
            space, tiny("supernet.channels=6"), first, digits, tmp_path, epochs_to=2, seed=0
        )
    with pytest.raises(ConfigError, match="supernet.epochs"):
        train_supernet(space, tiny(), first, digits, tmp_path, epochs_to=4, seed=0)
    with pytest.raises(ConfigError, match="no trained supernet"):
        score_archs(space, tiny(), first, digits, tmp_path, epoch=2)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("supernet.bn=batch", "supernet.bn"),
        ("supernet.rounds_every=200", "supernet.rounds_every"),
        ("supernet.lr_min=1", "supernet.lr_min"),
        ("supernet.drop_path=1", "supernet.drop_path"),
        ("supernet.dev_batches=0", "supernet.dev_batches"),
        ("supernet.chanels=8", "did you mean channels"),
    ],
)
def test_supernet_config_errors_name_the_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_config("demo", [override])


def test_dev_batches_that_outgrow_the_dev_split_fail_at_load_time() -> None:
    cfg = load_config("nao-ws-nb201")
    too_many = cfg.child.dev_size // cfg.supernet.eval_batch_size + 1
    with pytest.raises(ConfigError, match=r"supernet.dev_batches: .* but child.dev_size is"):
        load_config("nao-ws-nb201", [f"supernet.dev_batches={too_many}"])
    load_config("nao-ws-nb201", [f"supernet.dev_batches={too_many - 1}"])


def test_the_weight_sharing_presets() -> None:
    ws = load_config("nao-ws-cifar10").supernet
    assert (ws.epochs, ws.rounds_every, ws.layers, ws.channels) == (150, 30, 3, 20)
    assert ws.schedule() == [30, 60, 90, 120, 150]
    assert replace(ws, epochs=100).schedule() == [30, 60, 90, 100]
    assert (ws.rerank_top, ws.rerank_epochs) == (5, 10)
    nb = load_config("nao-ws-nb201")
    assert (nb.supernet.layers, nb.supernet.channels) == (5, 16)
    assert (nb.child.layers, nb.child.channels, nb.child.dev_size) == (5, 16, 25000)


# ---------------------------------------------------------------- nb201 stand-alone children


def test_nb201_networks_have_the_benchmarks_parameter_counts() -> None:
    space = get_space("nb201")
    for op, want in (("none", 73_306), ("nor_conv_3x3", 1_531_546)):
        counts = count_params(space, Nb201Arch((op,) * 6), layers=5, channels=16)
        assert counts["params"] == counts["params_without_aux"] == want


def test_nb201_child_trains_on_digits_and_reranks(tmp_path: Path) -> None:
    space = get_space("nb201")
    best = space.parse(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    empty = Nb201Arch(("none",) * 6)
    cfg = tiny("child.train_subset=600", "child.dev_size=300", "child.channels=8").child
    short = replace(cfg, epochs=2)
    store = LocalStore(tmp_path / "store")
    results = rerank(space, [best, empty], short, tmp_path / "w", seed=0, store=store)
    assert [r.arch for r in results] == [space.to_string(best), space.to_string(empty)]
    assert results[0].params > results[1].params > 0
    assert results[0].dev_accuracy > 0.5  # chance is 0.1
    assert results[0].dev_accuracy > results[1].dev_accuracy  # `none` everywhere: no cell
    assert best_of(results) == 0
    again = train_child(space, best, short, tmp_path / "w" / results[0].id, seed=0)
    assert again.dev_accuracy == results[0].dev_accuracy  # finished: read back
    # cached in the store: a re-run elsewhere trains nothing
    assert rerank(space, [best, empty], short, tmp_path / "w2", seed=0, store=store) == results
    assert not (tmp_path / "w2" / results[0].id / "checkpoint.pt").exists()
