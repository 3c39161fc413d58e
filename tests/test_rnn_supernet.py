"""The recurrent supernet (NAO-WS for enas-rnn): one matrix per (node, predecessor) pair."""

from __future__ import annotations

import random

import pytest
import torch

from nao_kfp.child.rnn import RnnLM, RnnSpec, RnnSupernet, SharedEnasCell
from nao_kfp.errors import ArchError
from nao_kfp.spaces import get_space

SPACE = get_space("enas-rnn")
SPEC = RnnSpec(vocab=50, embedding_size=16, hidden_size=16)


def _archs(n: int, seed: int = 0) -> list:
    return SPACE.sample_unique(n, random.Random(seed))


def test_every_node_predecessor_pair_has_its_own_matrix() -> None:
    nodes = SPACE.nodes
    pairs = [(i, j) for i in range(2, nodes + 1) for j in range(1, i)]
    index = [SharedEnasCell.pair_index(i, j) for i, j in pairs]
    assert sorted(index) == list(range(len(pairs))) == list(range(nodes * (nodes - 1) // 2))
    net = RnnSupernet(nodes, SPEC)
    assert len(net.cell.ws) == len(pairs)


@pytest.mark.parametrize("training", [False, True])
def test_a_path_through_the_supernet_is_the_standalone_cell(training: bool) -> None:
    torch.manual_seed(0)
    net = RnnSupernet(SPACE.nodes, SPEC).train(training)
    ids = torch.randint(0, SPEC.vocab, (7, 3))
    for arch in _archs(4):
        alone = net.standalone(arch)
        assert isinstance(alone, RnnLM) and alone.training == training
        torch.manual_seed(1)  # the same dropout masks for both
        got, h = net(ids, net.init_hidden(3), arch)
        torch.manual_seed(1)
        want, h_alone = alone(ids, alone.init_hidden(3))
        assert torch.equal(got, want) and torch.equal(h, h_alone)


def test_only_the_chosen_pairs_get_gradients() -> None:
    torch.manual_seed(0)
    net = RnnSupernet(SPACE.nodes, SPEC)
    (arch,) = _archs(1, seed=3)
    logits, _ = net(torch.randint(0, SPEC.vocab, (5, 2)), net.init_hidden(2), arch)
    logits.sum().backward()
    chosen = {SharedEnasCell.pair_index(i, p) for i, (p, _a) in enumerate(arch.nodes[1:], 2)}
    with_grad = {k for k, w in enumerate(net.cell.ws) if w.grad is not None}
    assert with_grad == chosen and len(chosen) == SPACE.nodes - 1
    assert net.cell.w0.grad is not None and net.encoder.weight.grad is not None


def test_two_cells_that_share_a_wire_share_its_weights() -> None:
    torch.manual_seed(0)
    net = RnnSupernet(SPACE.nodes, SPEC).eval()
    a, b = _archs(2, seed=5)
    shared = set(map(id, net.cell.weights_of(a))) & set(map(id, net.cell.weights_of(b)))
    wires = {(i, p) for i, (p, _x) in enumerate(a.nodes[1:], 2)} & {
        (i, p) for i, (p, _x) in enumerate(b.nodes[1:], 2)
    }
    assert len(shared) == len(wires)


def test_a_cell_of_another_size_is_refused() -> None:
    net = RnnSupernet(4, SPEC)
    with pytest.raises(ArchError, match="the cell has 12 nodes, the supernet 4"):
        net(torch.zeros(2, 1, dtype=torch.long), net.init_hidden(1), _archs(1)[0])
