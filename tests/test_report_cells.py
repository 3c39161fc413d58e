"""Cell diagrams: Graphviz's layout of the official NAONet cells has one label per edge, no two
labels on one spot, and no edge drawn through a box it does not connect."""

from __future__ import annotations

import itertools
import random
from typing import Any
from xml.etree import ElementTree

import pytest

from nao_kfp import diagrams
from nao_kfp.spaces import get_space

pytestmark = pytest.mark.skipif(not diagrams.available(), reason="needs Graphviz's dot")

NAONET_A = "0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7 0 7 1 13 0 6 0 14 0 9 1 10 0 14 2 6 1 11 0 7"
NAONET_B = "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3 1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2"
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in points


def _xy(text: str) -> tuple[float, float]:
    x, y = text.split(",")
    return float(x), float(y)


def node_boxes(lay: dict[str, Any]) -> dict[int, Box]:
    out = {}
    for obj in lay["objects"]:
        if "pos" not in obj:  # a subgraph
            continue
        x, y = _xy(obj["pos"])
        w, h = float(obj["width"]) * 72 / 2, float(obj["height"]) * 72 / 2
        out[obj["_gvid"]] = (x - w, y - h, x + w, y + h)
    return out


def spline_points(pos: str, steps: int = 24) -> list[tuple[float, float]]:
    """Points along an edge's cubic B-spline (dot's `pos`: optional s,/e, ends, then controls)."""
    ctrl = [_xy(p) for p in pos.split() if not p.startswith(("e,", "s,"))]
    pts = []
    for i in range(0, len(ctrl) - 3, 3):
        p0, p1, p2, p3 = ctrl[i : i + 4]
        for s in range(steps + 1):
            t = s / steps
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t**3
            pts.append(
                (
                    a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0],
                    a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1],
                )
            )
    return pts


def label_box(edge: dict[str, Any]) -> Box:
    size = next(op["size"] for op in edge["_ldraw_"] if op["op"] == "F")
    text = next(op for op in edge["_ldraw_"] if op["op"] == "T")
    x, y = _xy(edge["lp"])
    w = text["width"] / 2
    return (x - w, y - size / 2, x + w, y + size / 2)


def inside(p: tuple[float, float], box: Box, margin: float = 1.0) -> bool:
    return box[0] + margin < p[0] < box[2] - margin and box[1] + margin < p[1] < box[3] - margin


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_layout(dag: diagrams.Dag) -> None:
    lay = diagrams.layout(dag)
    boxes = node_boxes(lay)
    names = {o["_gvid"]: o["name"] for o in lay["objects"] if "pos" in o}
    edges = lay["edges"]
    assert len(edges) == len(dag.edges)
    labelled = [e for e in edges if e.get("label")]
    # one label per branch edge, and its text is the branch's op
    assert sorted(e["label"] for e in labelled) == sorted(op for _t, _h, op in dag.edges if op)
    for e in labelled:
        assert [op["text"] for op in e["_ldraw_"] if op["op"] == "T"] == [e["label"]]
    labels = [label_box(e) for e in labelled]
    for (i, a), (j, b) in itertools.combinations(enumerate(labels), 2):
        assert not overlap(a, b), (
            f"labels {labelled[i]['label']} and {labelled[j]['label']} overlap"
        )
    for lab, e in zip(labels, labelled, strict=True):
        for gid, box in boxes.items():
            assert not overlap(lab, box), f"label {e['label']} lies on box {names[gid]}"
    for e in edges:
        ends = {e["tail"], e["head"]}
        pts = spline_points(e["pos"])
        assert pts
        for gid, box in boxes.items():
            if gid in ends:
                continue
            hit = [p for p in pts if inside(p, box)]
            assert not hit, (
                f"edge {names[e['tail']]} -> {names[e['head']]} passes through box {names[gid]}"
            )


@pytest.mark.parametrize(("space", "text"), [("nasnet", NAONET_A), ("enas", NAONET_B)])
def test_naonet_cells_have_one_label_per_edge_and_no_edge_through_a_box(
    space: str, text: str
) -> None:
    arch = get_space(space).parse_official(text)
    for cell in arch.cells():
        check_layout(diagrams.cell_dag(cell))


@pytest.mark.parametrize("seed", range(6))
def test_random_cells_lay_out_cleanly(seed: int) -> None:
    sp = get_space("nasnet" if seed % 2 else "enas")
    arch = sp.sample(random.Random(seed))
    for cell in arch.cells():
        check_layout(diagrams.cell_dag(cell))


def test_an_edge_from_input_0_is_drawn_from_the_cell_input_not_node_0() -> None:
    cell = ((0, "conv_3x3", 0, "identity"), (0, "avg_pool", 2, "max_pool"))
    dag = diagrams.cell_dag(cell)  # type: ignore[arg-type]
    assert ("in0", "n1", "avg_pool") in dag.edges and ("n0", "n1", "max_pool") in dag.edges
    # inputs 1 and node 1 are unused: both are concatenated into the output
    assert {t for t, h, _ in dag.edges if h == "out"} == {"in1", "n1"}
    labels = dict(dag.inputs + dag.nodes)
    assert labels["in0"] == "input 0\nc_{k-2}" and labels["n0"] == "node 0"


def test_svgs_for_every_space_are_well_formed() -> None:
    samples = {
        name: get_space(name).sample(random.Random(0)) for name in ("enas", "enas-rnn", "nb201")
    }
    for name, arch in samples.items():
        svgs = diagrams.diagrams(name, get_space(name).to_string(arch))
        assert set(svgs) == ({"normal", "reduce"} if name == "enas" else {"cell"})
        for text in svgs.values():
            assert text.startswith("<svg")
            ElementTree.fromstring(text)
