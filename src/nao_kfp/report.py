"""The search report: Markdown and a self-contained HTML page.

It shows the best architecture, a table and a plot of accuracy by round with the predictor's
mean prediction for each round's new architectures beside their real mean (the paper's Fig. 2b),
and diagrams of the best normal and reduction cells, drawn as plain SVG (no graphviz needed).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from nao_kfp.pool import PoolEntry
from nao_kfp.spaces import CellArch, get_space

COLUMNS = (
    ("round", "round", "{}"),
    ("evaluated", "archs", "{}"),
    ("best_accuracy", "best dev acc", "{:.4f}"),
    ("mean_accuracy", "mean dev acc", "{:.4f}"),
    ("pairwise_accuracy", "predictor pairwise acc", "{:.3f}"),
    ("hamming", "decoder Hamming", "{:.2f}"),
    ("predicted_mean", "predicted mean (new)", "{:.4f}"),
    ("real_mean", "real mean (new)", "{:.4f}"),
)


def _cell(value: Any, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def table_rows(rounds: list[dict[str, Any]]) -> list[list[str]]:
    return [[_cell(r.get(k), fmt) for k, _h, fmt in COLUMNS] for r in rounds]


def summary_table(result: dict[str, Any]) -> str:
    """The per-round table as aligned plain text (what `nao search` prints at the end)."""
    heads = [h for _k, h, _f in COLUMNS]
    rows = table_rows(result["rounds"])
    widths = [max(len(x) for x in col) for col in zip(heads, *rows, strict=False)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(heads)] + [line(r) for r in rows]
    best = result.get("best")
    if best:
        out.append(
            f"best: {best['dev_accuracy']:.4f} dev accuracy  id {best['id']}  (round {best['round']})"
        )
        out.append(f"  {best['arch']}")
    return "\n".join(out)


# ---------------------------------------------------------------- the plot


def accuracy_plot(rounds: list[dict[str, Any]]) -> bytes:
    """PNG: best / mean dev accuracy per round, and predicted vs real mean of new archs."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a pod or CI
    import matplotlib.pyplot as plt

    xs = [r["round"] for r in rounds]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    series = [
        ("best_so_far", "best so far", "-", "o"),
        ("best_accuracy", "best of round", "--", "^"),
        ("mean_accuracy", "mean of round", "-", "s"),
        ("real_mean", "new archs: real mean", ":", "x"),
        ("predicted_mean", "new archs: predicted mean", ":", "+"),
    ]
    for key, label, style, marker in series:
        pts = [(x, r[key]) for x, r in zip(xs, rounds, strict=True) if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), linestyle=style, marker=marker, label=label)
    ax.set_xlabel("round")
    ax.set_ylabel("dev accuracy")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# ---------------------------------------------------------------- cell diagrams

NODE_W, NODE_H, COL_GAP, ROW_GAP = 110, 30, 70, 16


def cell_svg(cell: tuple[tuple[int, str, int, str], ...], title: str) -> str:
    """A left-to-right DAG: the two cell inputs, one box per node, the concatenated output.
    Nodes sit in the column of their depth; edges are labelled with their op."""
    names = ["c_{k-2}", "c_{k-1}"] + [f"node {k}" for k in range(len(cell))]
    depth = [0, 0] + [0] * len(cell)
    for k, (in1, _o1, in2, _o2) in enumerate(cell):
        depth[k + 2] = 1 + max(depth[in1], depth[in2])
    used = {i for n in cell for i in (n[0], n[2])}
    loose = [k + 2 for k in range(len(cell)) if k + 2 not in used]
    out_col = max(depth) + 1
    cols: dict[int, list[int]] = {}
    for i, d in enumerate(depth):
        cols.setdefault(d, []).append(i)
    pos: dict[int | str, tuple[float, float]] = {}
    for d, members in cols.items():
        for j, i in enumerate(members):
            pos[i] = (20 + d * (NODE_W + COL_GAP), 40 + j * (NODE_H + ROW_GAP))
    tallest = max(len(m) for m in cols.values())
    height = 60 + tallest * (NODE_H + ROW_GAP)
    pos["out"] = (20 + out_col * (NODE_W + COL_GAP), (height - NODE_H) / 2)
    width = 40 + (out_col + 1) * (NODE_W + COL_GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        '<defs><marker id="a" markerWidth="8" markerHeight="6" refX="8" refY="3" orient="auto">'
        '<path d="M0,0 L8,3 L0,6 z" fill="#555"/></marker></defs>',
        f'<text x="10" y="18" font-size="13" font-weight="bold">{html.escape(title)}</text>',
    ]
    edges: list[tuple[int, int | str, str]] = [
        (src, k + 2, op) for k, n in enumerate(cell) for src, op in ((n[0], n[1]), (n[2], n[3]))
    ]
    edges += [(k, "out", "concat") for k in loose]
    for src, dst, op in edges:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        ax, ay, bx, by = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
        parts.append(
            f'<line x1="{ax:.0f}" y1="{ay:.0f}" x2="{bx:.0f}" y2="{by:.0f}" stroke="#555" '
            'marker-end="url(#a)"/>'
        )
        parts.append(
            f'<text x="{(ax + bx) / 2:.0f}" y="{(ay + by) / 2 - 3:.0f}" text-anchor="middle" '
            f'fill="#a33" font-size="9">{html.escape(op)}</text>'
        )
    boxes: list[tuple[int | str, str]] = [*enumerate(names), ("out", "output")]
    for key, label in boxes:
        x, y = pos[key]
        fill = "#dde8f5" if key in (0, 1) else "#f5e6c8" if key == "out" else "#e2f0d9"
        parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
            f'fill="{fill}" stroke="#333"/>'
        )
        parts.append(
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + NODE_H / 2 + 4:.0f}" '
            f'text-anchor="middle">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def cell_diagrams(space_name: str, arch_text: str) -> dict[str, str]:
    """SVG per cell for cell-based spaces; empty for the others (their text form is shown)."""
    arch = get_space(space_name).parse(arch_text)
    if not isinstance(arch, CellArch):
        return {}
    return {
        "normal": cell_svg(arch.normal, "normal cell"),
        "reduce": cell_svg(arch.reduce, "reduction cell"),
    }


# ---------------------------------------------------------------- the documents


def write_report(
    result: dict[str, Any], pool: list[PoolEntry], out_dir: Path, *, inline: bool = False
) -> dict[str, Path]:
    """Write report.md, report.html, accuracy.png and <cell>.svg into out_dir.

    With inline, report.md embeds its images as data URIs (a KFP Markdown artifact is one
    file); otherwise it links the files beside it. report.html is always self-contained."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = accuracy_plot(result["rounds"]) if result["rounds"] else b""
    (out_dir / "accuracy.png").write_bytes(png)
    best = result.get("best")
    svgs = cell_diagrams(result["space"], best["arch"]) if best else {}
    for name, svg in svgs.items():
        (out_dir / f"{name}.svg").write_text(svg)
    png_uri = "data:image/png;base64," + base64.b64encode(png).decode()

    def img(name: str, data_uri: str) -> str:
        return f"![{name}]({data_uri if inline else name})"

    md = [f"# NAO search report: {result['name']}", ""]
    failed = f", {result['failed']} failed" if result["failed"] else ""
    md.append(f"Space `{result['space']}`, {result['evaluated']} architectures evaluated{failed}.")
    md.append("")
    if best:
        md += [
            f"**Best architecture** (round {best['round']}, {best['source']}): dev accuracy "
            f"**{best['dev_accuracy']:.4f}**, id `{best['id']}`",
            "",
            f"```\n{best['arch']}\n```",
            "",
            f"```\n{best['describe']}\n```",
            "",
        ]
    heads = [h for _k, h, _f in COLUMNS]
    md += ["## Rounds", "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    md += ["| " + " | ".join(r) + " |" for r in table_rows(result["rounds"])]
    md += [
        "",
        "Predicted vs real: the predictor's mean accuracy for each round's new architectures "
        "(after embedding optimization) beside their measured mean (the paper's Fig. 2b).",
        "",
        img("accuracy.png", png_uri),
        "",
    ]
    for name, svg in svgs.items():
        uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
        md += [img(f"{name}.svg", uri), ""]
    text = "\n".join(md)
    (out_dir / "report.md").write_text(text)

    body = [f"<h1>NAO search report: {html.escape(result['name'])}</h1>"]
    body.append(f"<p>{html.escape(md[2])}</p>")
    if best:
        body.append(
            f"<p><b>Best architecture</b> (round {best['round']}): dev accuracy "
            f"<b>{best['dev_accuracy']:.4f}</b>, id <code>{best['id']}</code></p>"
            f"<pre>{html.escape(best['arch'])}</pre><pre>{html.escape(best['describe'])}</pre>"
        )
    rows = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in table_rows(result["rounds"])
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    body.append(f"<h2>Rounds</h2><table border='1' cellspacing='0'><tr>{head}</tr>{rows}</table>")
    body.append(f'<p><img alt="accuracy by round" src="{png_uri}"></p>')
    body += [f"<div>{svg}</div>" for svg in svgs.values()]
    page = "<!doctype html><html><head><meta charset='utf-8'><title>NAO report</title></head><body>"
    (out_dir / "report.html").write_text(page + "\n".join(body) + "</body></html>\n")
    paths = {
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
        "plot": out_dir / "accuracy.png",
    }
    paths.update({name: out_dir / f"{name}.svg" for name in svgs})
    return paths
