"""The ENAS recurrent cell (`enas-rnn`), B=12 nodes.

Node 1 takes the cell input and previous hidden state and chooses only an activation; node i>1
chooses one predecessor among nodes 1..i-1 and an activation. The cell output is the average of
the nodes no other node uses (ENAS's "loose ends").

Tokens: act1, pred2, act2, ..., predB, actB (2B-1 tokens). Predecessor node j is token j-1;
activations follow at B-1.. . Native string: `tanh | 1 relu | 1 sigmoid | 2 identity | ...`
(node 1 is just its activation; later nodes are `predecessor activation`).

Symmetry: the nodes form a tree rooted at node 1 and every node has its own weights, so any
renumbering that keeps each node after its predecessor is the same network. The canonical form
numbers the nodes in preorder of the tree with children sorted by their subtree's form.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from nao_kfp.errors import ArchError, shown
from nao_kfp.metric import PERPLEXITY
from nao_kfp.spaces.base import SearchSpace, parse_int

ACTIVATIONS = ("tanh", "relu", "identity", "sigmoid")


@dataclass(frozen=True)
class RnnArch:
    # nodes[0] = (0, act) for node 1 (input x, h); nodes[i-1] = (predecessor node, act)
    nodes: tuple[tuple[int, str], ...]

    def loose_ends(self) -> list[int]:
        used = {p for p, _ in self.nodes[1:]}
        return [i for i in range(1, len(self.nodes) + 1) if i not in used]


class RnnSpace(SearchSpace[RnnArch]):
    has_symmetry = True
    data = "text"
    network = "nao_kfp.child.rnn:RnnLM"
    supernet = "nao_kfp.child.rnn:RnnSupernet"  # trained by child/rnn_supernet_train.py
    metric = PERPLEXITY

    def __init__(self, name: str = "enas-rnn", nodes: int = 12, acts: Sequence[str] = ACTIVATIONS):
        self.name = name
        self.nodes = nodes
        self.acts = tuple(acts)
        self.n_preds = nodes - 1
        self.vocab_size = self.n_preds + len(self.acts)
        self.seq_len = 2 * nodes - 1
        self._act_index = {a: i for i, a in enumerate(self.acts)}

    def _where(self, pos: int) -> tuple[int, str]:
        if pos == 0:
            return 1, "activation"
        node = (pos + 1) // 2 + 1
        return node, "predecessor" if pos % 2 == 1 else "activation"

    def valid_tokens(self, pos: int) -> tuple[int, ...]:
        node, part = self._where(pos)
        if part == "activation":
            return tuple(range(self.n_preds, self.vocab_size))
        return tuple(range(node - 1))  # nodes 1..node-1

    def position_name(self, pos: int) -> str:
        node, part = self._where(pos)
        return f"node {node} {part}"

    def token_name(self, pos: int, token: int) -> str:
        return f"node {token + 1}" if token < self.n_preds else self.acts[token - self.n_preds]

    def _encode(self, arch: RnnArch) -> list[int]:
        out = [self.n_preds + self._act_index[arch.nodes[0][1]]]
        for pred, act in arch.nodes[1:]:
            out += [pred - 1, self.n_preds + self._act_index[act]]
        return out

    def _decode(self, tokens: Sequence[int]) -> RnnArch:
        nodes = [(0, self.acts[tokens[0] - self.n_preds])]
        for i in range(1, self.nodes):
            nodes.append((tokens[2 * i - 1] + 1, self.acts[tokens[2 * i] - self.n_preds]))
        return RnnArch(tuple(nodes))

    def to_string(self, arch: RnnArch) -> str:
        parts = [arch.nodes[0][1]] + [f"{p} {a}" for p, a in arch.nodes[1:]]
        return " | ".join(parts)

    def describe(self, arch: RnnArch) -> str:
        lines = [f"node 1 = {arch.nodes[0][1]}(x W_x + h W_h)"]
        for i, (p, a) in enumerate(arch.nodes[1:], start=2):
            lines.append(f"node {i} = {a}(node {p} W_{i})")
        lines.append("output = mean(" + ", ".join(f"node {i}" for i in arch.loose_ends()) + ")")
        return "\n".join(lines)

    def parse(self, text: str) -> RnnArch:
        parts = [p.strip() for p in text.split("|")]
        if len(parts) != self.nodes:
            raise ArchError(
                f"{self.name}: expected {self.nodes} nodes separated by '|', got {len(parts)}"
            )
        nodes = [(0, self._check_act(parts[0], 1))]
        for i, part in enumerate(parts[1:], start=2):
            words = part.split()
            if len(words) != 2:
                raise ArchError(
                    f"{self.name} node {i}: expected 'predecessor activation', got {shown(part)}"
                )
            pred = parse_int(words[0], f"{self.name} node {i} predecessor")
            nodes.append((self._check_pred(pred, i), self._check_act(words[1], i)))
        return RnnArch(tuple(nodes))

    def _check_act(self, act: str, node: int) -> str:
        if act not in self._act_index:
            raise ArchError(
                f"{self.name} node {node}: unknown activation {shown(act)}; expected one of {', '.join(self.acts)}"
            )
        return act

    def _check_pred(self, pred: int, node: int) -> int:
        if not 1 <= pred < node:
            raise ArchError(
                f"{self.name} node {node}: predecessor {pred} is out of range; expected 1..{node - 1}"
            )
        return pred

    # ------------------------------------------------------------ symmetry

    def canonical(self, arch: RnnArch) -> RnnArch:
        children = _children(arch)
        memo: dict[int, str] = {}

        def form(v: int) -> str:
            if v not in memo:
                inner = ",".join(sorted(form(c) for c in children[v]))
                memo[v] = f"{arch.nodes[v - 1][1]}({inner})"
            return memo[v]

        order: list[int] = []
        stack = [1]
        while stack:
            v = stack.pop()
            order.append(v)
            # Reversed, so the smallest form is visited first.
            stack += sorted(children[v], key=form, reverse=True)
        return _renumber(arch, order)

    def random_symmetric(self, arch: RnnArch, rng: random.Random) -> RnnArch:
        """A random renumbering: repeatedly number any node whose predecessor is numbered."""
        children = _children(arch)
        order: list[int] = []
        ready = [1]
        while ready:
            v = ready.pop(rng.randrange(len(ready)))
            order.append(v)
            ready += children[v]
        return _renumber(arch, order)

    def symmetric_variants(self, arch: RnnArch) -> list[RnnArch]:
        """Renumberings found by a fixed-seed random walk (a star-shaped tree has 11! of them,
        so at most `max_variants`, the architecture itself first)."""
        rng = random.Random(self.to_string(arch))
        out: dict[RnnArch, None] = {arch: None}
        for _ in range(4 * self.max_variants):
            if len(out) >= self.max_variants:
                break
            out.setdefault(self.random_symmetric(arch, rng))
        return list(out)

    # ------------------------------------------------------------ JSON

    def to_json(self, arch: RnnArch) -> list[list[int | str]]:
        return [[p, a] for p, a in arch.nodes]

    def from_json(self, data: object) -> RnnArch:
        if not isinstance(data, list) or len(data) != self.nodes:
            raise ArchError(
                f"{self.name}: expected a JSON list of {self.nodes} [predecessor, activation] pairs"
            )
        nodes = []
        for i, item in enumerate(data, start=1):
            if not (
                isinstance(item, list)
                and len(item) == 2
                and isinstance(item[0], int)
                and not isinstance(item[0], bool)
            ):
                raise ArchError(
                    f"{self.name} node {i}: expected [predecessor, activation], got {shown(item)}"
                )
            pred, act = item
            if i == 1:
                if pred != 0:
                    raise ArchError(
                        f"{self.name} node 1: predecessor must be 0 (the cell input), got {pred}"
                    )
            else:
                self._check_pred(pred, i)
            nodes.append((pred, self._check_act(str(act), i)))
        return RnnArch(tuple(nodes))


def _children(arch: RnnArch) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {i: [] for i in range(1, len(arch.nodes) + 1)}
    for i, (pred, _act) in enumerate(arch.nodes[1:], start=2):
        children[pred].append(i)
    return children


def _renumber(arch: RnnArch, order: Sequence[int]) -> RnnArch:
    """Node order[j] becomes node j+1; `order` lists every node after its predecessor."""
    new = {old: j + 1 for j, old in enumerate(order)}
    nodes = [(0, arch.nodes[0][1])]
    for old in order[1:]:
        pred, act = arch.nodes[old - 1]
        nodes.append((new[pred], act))
    return RnnArch(tuple(nodes))


ENAS_RNN = RnnSpace()
