"""The NAS-Bench-201 cell (`nb201`): 4 nodes, 6 edges, one op per edge.

Edges in the standard string's order: 0->1 | 0->2, 1->2 | 0->3, 1->3, 2->3, written
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`. Tokens are the op index of each edge. Every edge is a
distinct position in the benchmark's tables, so there is no symmetry to remove.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from nao_kfp.errors import ArchError, shown
from nao_kfp.spaces.base import SearchSpace

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from)


@dataclass(frozen=True)
class Nb201Arch:
    ops: tuple[str, str, str, str, str, str]


class Nb201Space(SearchSpace[Nb201Arch]):
    name = "nb201"
    data = "image"
    network = "nao_kfp.child.nb201net:Nb201Network"
    supernet = "nao_kfp.child.supernet:Nb201Supernet"
    proxies = True
    vocab_size = len(NB201_OPS)
    seq_len = len(EDGES)
    _index = {op: i for i, op in enumerate(NB201_OPS)}

    def valid_tokens(self, pos: int) -> tuple[int, ...]:
        return tuple(range(self.vocab_size))

    def position_name(self, pos: int) -> str:
        to, frm = EDGES[pos]
        return f"edge {frm}->{to}"

    def token_name(self, pos: int, token: int) -> str:
        return NB201_OPS[token]

    def _encode(self, arch: Nb201Arch) -> list[int]:
        return [self._index[op] for op in arch.ops]

    def _decode(self, tokens: Sequence[int]) -> Nb201Arch:
        ops = tuple(NB201_OPS[t] for t in tokens)
        return Nb201Arch(ops)  # type: ignore[arg-type]

    def to_string(self, arch: Nb201Arch) -> str:
        o = arch.ops
        return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"

    def describe(self, arch: Nb201Arch) -> str:
        lines = []
        for node in range(1, 4):
            edges = zip(EDGES, arch.ops, strict=True)
            terms = [f"{op}(node {frm})" for (to, frm), op in edges if to == node]
            lines.append(f"node {node} = " + " + ".join(terms))
        lines.append("output = node 3")
        return "\n".join(lines)

    # A search reads its pool (a few hundred of these strings) several times per round, and a
    # table has 15,625 rows; the arch is immutable, so parse and id are cached per value.
    def parse(self, text: str) -> Nb201Arch:
        return _parse(self, text)

    def canonical_id(self, arch: Nb201Arch) -> str:
        return _canonical_id(self, arch)

    def _parse(self, text: str) -> Nb201Arch:
        s = text.strip()
        groups = s.split("+")
        if len(groups) != 3:
            raise ArchError(
                f"nb201: expected 3 node groups joined by '+', got {len(groups)} in {shown(s)}"
            )
        ops: list[str] = []
        for node, g in enumerate(groups, start=1):
            if not (g.startswith("|") and g.endswith("|")) or len(g) < 2:
                raise ArchError(f"nb201 node {node}: expected |op~input|...|, got {g!r}")
            edges = g[1:-1].split("|")
            if len(edges) != node:
                raise ArchError(
                    f"nb201 node {node}: expected {node} edge(s), got {len(edges)} in {g!r}"
                )
            for j, e in enumerate(edges):
                if e.count("~") != 1:
                    raise ArchError(f"nb201 edge {j}->{node}: expected op~{j}, got {e!r}")
                op, src = e.split("~")
                if src != str(j):
                    raise ArchError(f"nb201 edge {j}->{node}: expected input {j}, got {shown(src)}")
                if op not in self._index:
                    raise ArchError(
                        f"nb201 edge {j}->{node}: unknown op {shown(op)}; expected one of {', '.join(NB201_OPS)}"
                    )
                ops.append(op)
        return Nb201Arch(tuple(ops))  # type: ignore[arg-type]

    def to_json(self, arch: Nb201Arch) -> list[str]:
        return list(arch.ops)

    def from_json(self, data: object) -> Nb201Arch:
        if not isinstance(data, list) or len(data) != len(EDGES):
            raise ArchError(f"nb201: expected a JSON list of {len(EDGES)} op names")
        for pos, op in enumerate(data):
            if not isinstance(op, str) or op not in self._index:
                raise ArchError(
                    f"nb201 {self.position_name(pos)}: unknown op {shown(op)}; expected one of {', '.join(NB201_OPS)}"
                )
        return Nb201Arch(tuple(data))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1 << 16)
def _parse(space: Nb201Space, text: str) -> Nb201Arch:
    return space._parse(text)


@functools.lru_cache(maxsize=1 << 16)
def _canonical_id(space: Nb201Space, arch: Nb201Arch) -> str:
    return SearchSpace.canonical_id(space, arch)


NB201 = Nb201Space()
