"""NASNet-style convolutional cells: the `nasnet` (11 ops) and `enas` (5 ops) spaces.

An architecture is a normal and a reduction cell of B nodes. Node k has two branches, each an
(input, op) pair; input 0 and 1 are the cell's two inputs and input j+2 is node j (j < k).

Tokens, per cell and node: in1 op1 in2 op2 (normal cell first). Input tokens are 0..B+1;
op tokens follow them. Native string form:

    normal[conv_3x3~0 avg_pool_5x5~1 | conv_1x1~2 conv_3x3~1 | ...] reduce[...]

The official NAO integer form uses the same order and input numbering, with the space's op ids.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from nao_kfp.errors import ArchError, shown
from nao_kfp.spaces.base import SearchSpace, parse_int

# (in1, op1, in2, op2)
Node = tuple[int, str, int, str]
Cell = tuple[Node, ...]
CELL_NAMES = ("normal", "reduce")


@dataclass(frozen=True)
class CellArch:
    normal: Cell
    reduce: Cell

    def cells(self) -> tuple[Cell, Cell]:
        return (self.normal, self.reduce)


class CellSpace(SearchSpace[CellArch]):
    has_symmetry = True
    data = "image"
    network = "nao_kfp.child.cnn:CellNetwork"
    supernet = "nao_kfp.child.supernet:CellSupernet"
    proxies = True
    budgets = True

    def __init__(self, name: str, ops: Sequence[str], official_offset: int, nodes: int = 5):
        self.name = name
        self.ops = tuple(ops)
        self.nodes = nodes
        self.official_offset = official_offset
        self.n_inputs = nodes + 2
        self.vocab_size = self.n_inputs + len(self.ops)
        self.seq_len = 2 * nodes * 4
        self._op_index = {op: i for i, op in enumerate(self.ops)}

    # ------------------------------------------------------------ layout

    def _where(self, pos: int) -> tuple[int, int, int]:
        cell, rest = divmod(pos, self.nodes * 4)
        node, slot = divmod(rest, 4)
        return cell, node, slot

    def valid_tokens(self, pos: int) -> tuple[int, ...]:
        _cell, node, slot = self._where(pos)
        if slot % 2 == 0:
            return tuple(range(node + 2))
        return tuple(range(self.n_inputs, self.vocab_size))

    def position_name(self, pos: int) -> str:
        cell, node, slot = self._where(pos)
        part = "input" if slot % 2 == 0 else "op"
        return f"{CELL_NAMES[cell]} cell node {node} {part} {slot // 2 + 1}"

    def token_name(self, pos: int, token: int) -> str:
        if token < self.n_inputs:
            return _input_name(token)
        return self.ops[token - self.n_inputs]

    def _encode(self, arch: CellArch) -> list[int]:
        out: list[int] = []
        for cell in arch.cells():
            for in1, op1, in2, op2 in cell:
                out += [
                    in1,
                    self.n_inputs + self._op_index[op1],
                    in2,
                    self.n_inputs + self._op_index[op2],
                ]
        return out

    def _decode(self, tokens: Sequence[int]) -> CellArch:
        cells = []
        for c in range(2):
            nodes = []
            for k in range(self.nodes):
                i = (c * self.nodes + k) * 4
                t = tokens[i : i + 4]
                nodes.append(
                    (t[0], self.ops[t[1] - self.n_inputs], t[2], self.ops[t[3] - self.n_inputs])
                )
            cells.append(tuple(nodes))
        return CellArch(cells[0], cells[1])

    # ------------------------------------------------------------ native string

    def to_string(self, arch: CellArch) -> str:
        parts = []
        for name, cell in zip(CELL_NAMES, arch.cells(), strict=True):
            nodes = " | ".join(f"{op1}~{in1} {op2}~{in2}" for in1, op1, in2, op2 in cell)
            parts.append(f"{name}[{nodes}]")
        return " ".join(parts)

    def describe(self, arch: CellArch) -> str:
        lines = []
        for name, cell in zip(CELL_NAMES, arch.cells(), strict=True):
            lines.append(f"{name} cell:")
            used: set[int] = set()
            for k, (in1, op1, in2, op2) in enumerate(cell):
                used |= {in1, in2}
                lines.append(f"  node {k} = {op1}({_input_name(in1)}) + {op2}({_input_name(in2)})")
            outs = [f"node {k}" for k in range(self.nodes) if k + 2 not in used]
            lines.append(f"  output = concat({', '.join(outs)})")
        return "\n".join(lines)

    _CELL_RE = re.compile(r"^\s*(normal|reduce)\s*\[(.*?)\]\s*", re.S)

    def parse(self, text: str) -> CellArch:
        rest = text.strip()
        found: dict[str, Cell] = {}
        while rest:
            m = self._CELL_RE.match(rest)
            if not m:
                want = "normal[...]" if "normal" not in found else "reduce[...]"
                raise ArchError(f"{self.name}: expected {want} at {rest[:30]!r}")
            name = m.group(1)
            if name in found:
                raise ArchError(f"{self.name}: {name} cell given twice")
            found[name] = self._parse_cell(name, m.group(2))
            rest = rest[m.end() :]
        for name in CELL_NAMES:
            if name not in found:
                raise ArchError(f"{self.name}: missing {name}[...] cell")
        return CellArch(found["normal"], found["reduce"])

    def _parse_cell(self, cell_name: str, body: str) -> Cell:
        node_texts = [t.strip() for t in body.split("|")]
        if len(node_texts) != self.nodes:
            raise ArchError(
                f"{cell_name} cell: expected {self.nodes} nodes separated by '|', got {len(node_texts)}"
            )
        nodes = []
        for k, nt in enumerate(node_texts):
            branches = nt.split()
            if len(branches) != 2:
                raise ArchError(
                    f"{cell_name} cell node {k}: expected two branches 'op~input op~input', got {nt!r}"
                )
            node: list[Any] = []
            for b, br in enumerate(branches):
                where = f"{cell_name} cell node {k} branch {b + 1}"
                if br.count("~") != 1:
                    raise ArchError(f"{where}: expected op~input, got {br!r}")
                op, inp_text = br.split("~")
                inp = parse_int(inp_text, f"{where} input")
                node += [self._check_input(inp, k, where), self._check_op(op, where)]
            nodes.append((node[0], node[1], node[2], node[3]))
        return tuple(nodes)

    def _check_input(self, inp: int, node: int, where: str) -> int:
        if not 0 <= inp <= node + 1:
            raise ArchError(
                f"{where}: input {inp} is out of range; expected 0..{node + 1} "
                f"(0-1 the cell inputs, j+2 an earlier node j)"
            )
        return inp

    def _check_op(self, op: str, where: str) -> str:
        if op not in self._op_index:
            raise ArchError(
                f"{where}: unknown op {shown(op)}; expected one of {', '.join(self.ops)}"
            )
        return op

    # ------------------------------------------------------------ JSON

    def to_json(self, arch: CellArch) -> dict[str, list[list[int | str]]]:
        return {
            name: [list(n) for n in cell]
            for name, cell in zip(CELL_NAMES, arch.cells(), strict=True)
        }

    def from_json(self, data: object) -> CellArch:
        if not isinstance(data, dict) or set(data) != set(CELL_NAMES):
            raise ArchError(f"{self.name}: expected a JSON object with keys normal and reduce")
        cells = []
        for name in CELL_NAMES:
            raw = data[name]
            if not isinstance(raw, list) or len(raw) != self.nodes:
                raise ArchError(f"{name} cell: expected a list of {self.nodes} nodes")
            nodes = []
            for k, n in enumerate(raw):
                where = f"{name} cell node {k}"
                if not (isinstance(n, list) and len(n) == 4):
                    raise ArchError(f"{where}: expected [in1, op1, in2, op2], got {n!r}")
                in1, op1, in2, op2 = n
                for b, (inp, op) in enumerate(((in1, op1), (in2, op2))):
                    if not isinstance(inp, int) or isinstance(inp, bool):
                        raise ArchError(
                            f"{where} branch {b + 1} input: expected an integer, got {inp!r}"
                        )
                    self._check_input(inp, k, f"{where} branch {b + 1}")
                    self._check_op(str(op), f"{where} branch {b + 1}")
                nodes.append((in1, op1, in2, op2))
            cells.append(tuple(nodes))
        return CellArch(cells[0], cells[1])

    # ------------------------------------------------------------ official NAO integer form

    def to_official(self, arch: CellArch) -> list[int]:
        out = []
        for cell in arch.cells():
            for in1, op1, in2, op2 in cell:
                out += [
                    in1,
                    self._op_index[op1] + self.official_offset,
                    in2,
                    self._op_index[op2] + self.official_offset,
                ]
        return out

    def from_official(self, seq: Sequence[int]) -> CellArch:
        if len(seq) != self.seq_len:
            raise ArchError(
                f"{self.name} official sequence: expected {self.seq_len} integers, got {len(seq)}"
            )
        tokens = []
        lo, hi = self.official_offset, self.official_offset + len(self.ops) - 1
        for pos, v in enumerate(seq):
            _c, node, slot = self._where(pos)
            if slot % 2 == 0:
                if not 0 <= v <= node + 1:
                    raise ArchError(
                        f"position {pos} ({self.position_name(pos)}): input {v} is out of range; expected 0..{node + 1}"
                    )
                tokens.append(v)
            else:
                if not lo <= v <= hi:
                    raise ArchError(
                        f"position {pos} ({self.position_name(pos)}): op id {v} is not a {self.name} op; expected {lo}..{hi}"
                    )
                tokens.append(self.n_inputs + v - lo)
        return self._decode(tokens)

    def parse_official(self, text: str) -> CellArch:
        parts = text.replace(",", " ").split()
        seq = [parse_int(p, f"{self.name} official sequence item {i}") for i, p in enumerate(parts)]
        return self.from_official(seq)

    # ------------------------------------------------------------ symmetry

    def symmetric_variants(self, arch: CellArch) -> list[CellArch]:
        """Branch swaps and node renumberings of each cell, combined across the two cells: all
        of them when there are at most `max_variants`, else a fixed-seed sample."""
        per_cell = [_cell_variants(c) for c in arch.cells()]
        total = len(per_cell[0]) * len(per_cell[1])
        picks: Sequence[int]
        if total <= self.max_variants:
            picks = range(total)
        else:
            # A fixed seed keeps the method a pure function of the architecture.
            picks = [0, *random.Random(total).sample(range(1, total), self.max_variants - 1)]
        out: dict[CellArch, None] = {}
        for i in picks:
            n, r = divmod(i, len(per_cell[1]))
            out.setdefault(CellArch(per_cell[0][n], per_cell[1][r]))
        return list(out)

    def random_symmetric(self, arch: CellArch, rng: random.Random) -> CellArch:
        """Swap the two branches of one random node in each cell (the official NAO augmentation)."""
        cells = []
        for cell in arch.cells():
            k = rng.randrange(self.nodes)
            nodes = list(cell)
            a, oa, b, ob = nodes[k]
            nodes[k] = (b, ob, a, oa)
            cells.append(tuple(nodes))
        return CellArch(cells[0], cells[1])

    def canonical(self, arch: CellArch) -> CellArch:
        return CellArch(_canonical_cell(arch.normal), _canonical_cell(arch.reduce))


def _input_name(i: int) -> str:
    return f"input {i}" if i < 2 else f"node {i - 2}"


def _topological_orders(cell: Cell) -> tuple[tuple[int, ...], ...]:
    """Every order of the nodes that keeps each node after the nodes it reads."""
    return _orders_for(tuple((n[0], n[2]) for n in cell))


@lru_cache(maxsize=4096)
def _orders_for(inputs: tuple[tuple[int, int], ...]) -> tuple[tuple[int, ...], ...]:
    # Cached on the wiring alone: many cells share it.
    deps = [frozenset(i - 2 for i in pair if i >= 2) for pair in inputs]
    out: list[tuple[int, ...]] = []

    def extend(order: list[int], placed: set[int]) -> None:
        if len(order) == len(inputs):
            out.append(tuple(order))
            return
        for k in range(len(inputs)):
            if k not in placed and deps[k] <= placed:
                order.append(k)
                placed.add(k)
                extend(order, placed)
                placed.discard(k)
                order.pop()

    extend([], set())
    return tuple(out)


def _renumber(cell: Cell, order: Sequence[int]) -> Cell:
    """The same cell with node order[j] renamed to node j (inputs relabelled to match)."""
    pos = {old: new for new, old in enumerate(order)}
    relabel = [i if i < 2 else pos[i - 2] + 2 for i in range(len(cell) + 2)]
    return tuple(
        (relabel[cell[old][0]], cell[old][1], relabel[cell[old][2]], cell[old][3]) for old in order
    )


def _swap(node: Node) -> Node:
    return (node[2], node[3], node[0], node[1])


@lru_cache(maxsize=4096)
def _cell_variants(cell: Cell) -> tuple[Cell, ...]:
    """Every branch swap of every valid renumbering of the cell, the cell itself first."""
    out: dict[Cell, None] = {cell: None}
    for order in _topological_orders(cell):
        renumbered = _renumber(cell, order)
        for flips in itertools.product((False, True), repeat=len(cell)):
            out.setdefault(
                tuple(_swap(n) if f else n for n, f in zip(renumbered, flips, strict=True))
            )
    return tuple(out)


@lru_cache(maxsize=65536)
def _canonical_cell(cell: Cell) -> Cell:
    """Smallest form over branch order and over every renumbering of the nodes that keeps each
    node after its inputs: two cells with the same canonical form compute the same network
    (the output concatenates the unused nodes, so renumbering only permutes channels)."""
    best: Cell | None = None
    for order in _topological_orders(cell):
        nodes = []
        for in1, op1, in2, op2 in _renumber(cell, order):
            x, y = (in1, op1), (in2, op2)
            if y < x:
                x, y = y, x
            nodes.append((x[0], x[1], y[0], y[1]))
        cand = tuple(nodes)
        if best is None or cand < best:
            best = cand
    assert best is not None  # the identity order is always topological
    return best


NASNET_OPS = (
    "identity",
    "conv_1x1",
    "conv_3x3",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "max_pool_2x2",
    "max_pool_3x3",
    "max_pool_5x5",
    "avg_pool_2x2",
    "avg_pool_3x3",
    "avg_pool_5x5",
)
ENAS_OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")

NASNET = CellSpace("nasnet", NASNET_OPS, official_offset=5)
ENAS = CellSpace("enas", ENAS_OPS, official_offset=0)
