"""Cell diagrams laid out by Graphviz's `dot`, as DARTS draws its genotypes.

A cell is a small DAG: its inputs, one box per node, an output box, and one edge per branch
labelled with the branch's op. `dot` ranks the boxes left to right, gives every edge label a
place of its own and routes edges around the boxes they do not connect (a hand layout stacked
labels on one spot and drew long edges under intermediate boxes). Needs the `dot` program
(Debian's `graphviz` package) besides PyPI's `graphviz`; `available()` says whether it is there.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from typing import Any

from nao_kfp.spaces import CellArch, Nb201Arch, RnnArch, get_space
from nao_kfp.spaces.cell import Cell
from nao_kfp.spaces.nb201 import EDGES

INPUT_FILL, NODE_FILL, OUTPUT_FILL = "#dde8f5", "#e2f0d9", "#f5e6c8"


@dataclass(frozen=True)
class Dag:
    """Boxes by id (inputs first, then nodes, then outputs) and labelled edges between them."""

    inputs: list[tuple[str, str]]  # (id, label)
    nodes: list[tuple[str, str]]
    outputs: list[tuple[str, str]]
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (tail, head, label)


def cell_dag(cell: Cell) -> Dag:
    """A NASNet-style cell: inputs c_{k-2} and c_{k-1} (tokens 0 and 1), node j (token j + 2);
    every state no node consumes is concatenated into the output."""
    ids = ["in0", "in1"] + [f"n{k}" for k in range(len(cell))]
    edges = [
        (ids[src], f"n{k}", op)
        for k, n in enumerate(cell)
        for src, op in ((n[0], n[1]), (n[2], n[3]))
    ]
    used = {i for n in cell for i in (n[0], n[2])}
    edges += [(ids[i], "out", "") for i in range(len(ids)) if i not in used]
    return Dag(
        inputs=[("in0", "input 0\nc_{k-2}"), ("in1", "input 1\nc_{k-1}")],  # as describe()
        nodes=[(f"n{k}", f"node {k}") for k in range(len(cell))],
        outputs=[("out", "c_{k} (concat)")],
        edges=edges,
    )


def rnn_dag(arch: RnnArch) -> Dag:
    """The ENAS recurrent cell: node 1 reads x_t and h_{t-1}; each edge carries the activation of
    the node it enters; the loose ends are averaged into h_t."""
    edges = [("x", "n1", arch.nodes[0][1]), ("h", "n1", arch.nodes[0][1])]
    edges += [(f"n{p}", f"n{i}", act) for i, (p, act) in enumerate(arch.nodes[1:], start=2)]
    edges += [(f"n{i}", "out", "") for i in arch.loose_ends()]
    return Dag(
        inputs=[("x", "x_{t}"), ("h", "h_{t-1}")],
        nodes=[(f"n{i}", f"node {i}") for i in range(1, len(arch.nodes) + 1)],
        outputs=[("out", "h_{t} (mean)")],
        edges=edges,
    )


def nb201_dag(arch: Nb201Arch) -> Dag:
    """The NAS-Bench-201 cell: node 0 is the input, node 3 the output; `none` edges are absent."""

    edges = [(f"n{frm}", f"n{to}", op) for (to, frm), op in zip(EDGES, arch.ops, strict=True)]
    return Dag(
        inputs=[("n0", "node 0 (in)")],
        nodes=[("n1", "node 1"), ("n2", "node 2")],
        outputs=[("n3", "node 3 (out)")],
        edges=[e for e in edges if e[2] != "none"],
    )


def graph(dag: Dag, title: str) -> Any:
    """The graphviz.Digraph of a DAG (inputs on the first rank, outputs on the last)."""
    import graphviz

    g = graphviz.Digraph(
        graph_attr={"rankdir": "LR", "label": title, "labelloc": "t", "fontsize": "14",
                    "fontname": "Helvetica", "nodesep": "0.25", "ranksep": "0.4"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                   "fontsize": "11", "height": "0.35"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9", "fontcolor": "#993333",
                   "color": "#555555", "arrowsize": "0.7"},
    )  # fmt: skip
    for rank, boxes, fill in (
        ("source", dag.inputs, INPUT_FILL),
        ("", dag.nodes, NODE_FILL),
        ("sink", dag.outputs, OUTPUT_FILL),
    ):
        with g.subgraph() as s:
            if rank:
                s.attr(rank=rank)
            for node_id, label in boxes:
                s.node(node_id, label, fillcolor=fill)
    for tail, head, label in dag.edges:
        g.edge(tail, head, label=label) if label else g.edge(tail, head)
    return g


def svg(dag: Dag, title: str) -> str:
    """The diagram as an SVG document (without the XML prolog, so it can sit inside HTML)."""
    text: str = graph(dag, title).pipe(format="svg", encoding="utf-8")
    return text[text.index("<svg") :]


def layout(dag: Dag, title: str = "") -> dict[str, Any]:
    """dot's layout as `dot -Tjson` gives it: boxes (`objects`) and edges with their splines."""
    data: dict[str, Any] = json.loads(graph(dag, title).pipe(format="json", encoding="utf-8"))
    return data


def available() -> bool:
    return shutil.which("dot") is not None


def dags(space_name: str, arch_text: str) -> dict[str, tuple[Dag, str]]:
    """name -> (DAG, title) for every cell of the architecture."""
    arch = get_space(space_name).parse(arch_text)
    if isinstance(arch, CellArch):
        return {
            "normal": (cell_dag(arch.normal), "normal cell"),
            "reduce": (cell_dag(arch.reduce), "reduction cell"),
        }
    if isinstance(arch, RnnArch):
        return {"cell": (rnn_dag(arch), "recurrent cell")}
    if isinstance(arch, Nb201Arch):
        return {"cell": (nb201_dag(arch), "cell")}
    return {}


def diagrams(space_name: str, arch_text: str) -> dict[str, str]:
    """name -> SVG for every cell of the architecture; empty when `dot` is not installed."""
    if not available():
        return {}
    return {name: svg(dag, title) for name, (dag, title) in dags(space_name, arch_text).items()}
