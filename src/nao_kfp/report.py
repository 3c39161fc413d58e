"""The search report: Markdown and a self-contained HTML page, written from one list of blocks.

It renders a SearchResult (result.json, pool statistics included: poolstats.py): the best
architecture, a table of the rounds (accuracy beside the parameters of the child networks), the
plots of plots.py (accuracy by round with predicted vs real, the paper's Fig. 2b; accuracy
against size with the Pareto front), the final training when there was one, and Graphviz
diagrams of the best cells (diagrams.py). Every score reads as the result's metric reads it
(metric.py).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nao_kfp import diagrams, findings, runinfo
from nao_kfp.plots import SIZE_LABELS, Sizes, accuracy_plot, pareto_front, pareto_plot, pool_sizes
from nao_kfp.pool import PoolEntry
from nao_kfp.records import RoundRecord, SearchResult
from nao_kfp.spaces import get_space
from nao_kfp.summary import best_line, columns, glossary, table_rows
from nao_kfp.units import si

if TYPE_CHECKING:
    from nao_kfp.config import Config
    from nao_kfp.results import FinalOutcome
    from nao_kfp.spaces import Arch


def cell_diagrams(space_name: str, arch_text: str) -> dict[str, str]:
    """SVG per cell (Graphviz); empty when `dot` is not installed."""
    return diagrams.diagrams(space_name, arch_text)


# ---------------------------------------------------------------- one document, two renderings

Inline = str | tuple[str, str]  # plain text, or ("code" | "b", text)


@dataclass
class Doc:
    """Blocks rendered both to Markdown and to HTML, so the two never drift apart."""

    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, kind: str, *content: Any) -> None:
        self.blocks.append((kind, content))

    def markdown(self) -> str:
        out: list[str] = []
        for kind, c in self.blocks:
            if kind in ("h1", "h2"):
                out.append(("# " if kind == "h1" else "## ") + _md_inline(c[0]))
            elif kind == "p":
                out.append(_md_inline(c[0]))
            elif kind == "pre":
                out.append(f"```\n{c[0]}\n```")
            elif kind == "table":
                heads, rows = c
                out += ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
                out += ["| " + " | ".join(r) + " |" for r in rows]
            elif kind == "terms":
                out += [f"- **{term}**: {means}" for term, means in c[0]]
            elif kind == "figure":
                name, alt, uri, caption = c
                out.append(f"![{alt}]({uri})")
                if caption:
                    out += ["", f"*{_md_inline(caption)}*"]
            out.append("")
        return "\n".join(out)

    def html(self, svgs: Mapping[str, str], title: str) -> str:
        body: list[str] = []
        for kind, c in self.blocks:
            if kind in ("h1", "h2", "p"):
                body.append(f"<{kind}>{_html_inline(c[0])}</{kind}>")
            elif kind == "pre":
                body.append(f"<pre>{html.escape(c[0])}</pre>")
            elif kind == "table":
                heads, rows = c
                head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
                cells = "".join(
                    "<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in r) + "</tr>"
                    for r in rows
                )
                body.append(f"<table><tr>{head}</tr>{cells}</table>")
            elif kind == "terms":
                items = "".join(
                    f"<dt>{html.escape(t)}</dt><dd>{html.escape(m)}</dd>" for t, m in c[0]
                )
                body.append(f"<dl>{items}</dl>")
            elif kind == "figure":
                name, alt, uri, caption = c
                art = svgs.get(name) or f'<img alt="{html.escape(alt)}" src="{uri}">'
                cap = f"<figcaption>{_html_inline(caption)}</figcaption>" if caption else ""
                body.append(f"<figure>{art}{cap}</figure>")
        return (
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )


# Long architecture strings wrap instead of running off the page; wide tables and diagrams
# scroll or shrink within it.
CSS = (
    "body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em;line-height:1.4}"
    "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.5em}"
    "code{background:#f0f0f0;padding:0 .2em;overflow-wrap:anywhere}"
    "table{border-collapse:collapse;display:block;overflow-x:auto}"
    "td,th{border:1px solid #bbb;padding:.2em .5em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}"
    "figure{margin:1em 0}figure svg,figure img{max-width:100%;height:auto}"
    "figcaption{font-size:.9em;color:#444}"
    "dl{display:grid;grid-template-columns:max-content auto;gap:.15em 1em;font-size:.9em}"
    "dt{font-weight:bold}dd{margin:0}"
)


def _parts(text: Inline | Sequence[Inline]) -> list[Inline]:
    return [text] if isinstance(text, (str, tuple)) else list(text)


def _md_inline(text: Inline | Sequence[Inline]) -> str:
    out = []
    for part in _parts(text):
        if isinstance(part, tuple):
            kind, value = part
            out.append(f"`{value}`" if kind == "code" else f"**{value}**")
        else:
            out.append(part)
    return "".join(out)


def _html_inline(text: Inline | Sequence[Inline]) -> str:
    out = []
    for part in _parts(text):
        if isinstance(part, tuple):
            kind, value = part
            tag = "code" if kind == "code" else "b"
            out.append(f"<{tag}>{html.escape(value)}</{tag}>")
        else:
            out.append(html.escape(part))
    return "".join(out)


# ---------------------------------------------------------------- the documents

PLOT_CAPTION = (
    "Every evaluated architecture by round, NAO's proposals in blue; the dashed line is the "
    "mean of round 1, the blue line the mean of each round's proposals, the dotted one what the "
    "predictor expected of them before they were trained (the paper's Fig. 2b), the black one "
    "the best so far."
)


PARETO_CAPTION = (
    "Every evaluated architecture's {metric} against its {size}; the Pareto front (no other "
    "architecture is as small and as good, and better in one) as a line, the best "
    "architecture as a star."
)
NO_SIZES = (
    "Accuracy versus size: no sizes (the evaluator recorded no parameter or multiply-add "
    "counts, and the space has no network to count them on)."
)


def size_section(doc: Doc, result: SearchResult, sizes: Sizes | None, uri: str | None) -> None:
    """The accuracy-versus-size scatter and its Pareto front as a table, or the no-sizes note."""
    if sizes is None or uri is None:
        doc.add("p", NO_SIZES)
        return
    metric = result.metric
    size = SIZE_LABELS[sizes.key]
    if sizes.counted:
        size += " (counted on the search's child network: child.layers, child.channels)"
    doc.add("h2", "Accuracy versus size")
    doc.add("figure", "pareto.png", f"{metric.label} versus {size}", uri,
            PARETO_CAPTION.format(metric=metric.label, size=size))  # fmt: skip
    front = pareto_front(sizes.points)
    winner = result.best.id if result.best else None
    rows = [[si(p.size), metric.text(p.accuracy), p.id + (" (best)" if p.id == winner else "")]
            for p in front]  # fmt: skip
    doc.add("p", f"The Pareto front: {len(front)} of {len(sizes.points)} architectures.")
    doc.add("table", [SIZE_LABELS[sizes.key], metric.short, "id"], rows)


@dataclass(frozen=True)
class RunInfo:
    """What the report says of the run beyond its result (runinfo.py): its metadata rows and
    the commands that take the result further."""

    about: list[tuple[str, str]] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)


def build_doc(
    result: SearchResult,
    uris: Mapping[str, str],
    cells: Sequence[str],
    sizes: Sizes | None = None,
    info: RunInfo | None = None,
) -> Doc:
    doc = Doc()
    info = info or RunInfo()
    doc.add("h1", f"NAO search report: {result.name}")
    failed = f" ({result.failed} failed)" if result.failed else ""
    head: list[Inline] = [
        f"{result.evaluated} architectures of the ", ("code", result.space),
        f" space evaluated{failed} in {len(result.rounds)} rounds",
    ]  # fmt: skip
    line = best_line(result)
    doc.add("p", head + ([f"; the best: {line}."] if line else ["."]))
    heads, rows = findings.origin_rows(result)
    story = findings.story(result)
    if rows or story:
        doc.add("h2", "What NAO did")
        if rows:
            doc.add("table", heads, rows)
        for sentence in story:
            doc.add("p", sentence)
    if info.steps:
        doc.add("h2", "Next steps")
        for what, command in info.steps:
            doc.add("p", what[:1].upper() + what[1:] + ":")
            doc.add("pre", command)
    best = result.best
    if best is not None:
        doc.add("h2", "The best architecture")
        doc.add(
            "p",
            [f"Round {best.round}, {findings.source_words(best.source)}: ", ("b", line or ""),
             ", id ", ("code", best.id), "."],
        )  # fmt: skip
        doc.add("pre", best.arch)
        doc.add("pre", best.describe)
    final = result.final
    if final:
        doc.add("h2", "Final training")
        doc.add("p", final_sentence(final))
        if final.model_dir:
            doc.add("p", ["Exported model: ", ("code", final.model_dir)])
        if final.load:
            doc.add("pre", final.load)
    priors = prior_sentence(result.rounds)
    if priors:
        doc.add("h2", "Priors")
        doc.add("p", priors)
    cols = columns(result)
    doc.add("h2", "Rounds")
    doc.add("table", [c.head for c in cols], table_rows(result.rounds, cols))
    doc.add("terms", glossary(result, cols))
    shown = result.metric.kind
    caption = PLOT_CAPTION + (f" Scores are shown as {shown.name}." if shown.value else "")
    doc.add("figure", "accuracy.png", "accuracy by round", uris["accuracy.png"], caption)
    size_section(doc, result, sizes, uris.get("pareto.png"))
    for name in cells:
        label = {"normal": "normal cell", "reduce": "reduction cell"}.get(name, name)
        doc.add("figure", name, f"best {label}", uris[f"{name}.svg"], f"The best {label}.")
    if best and not cells:
        doc.add(
            "p", "Cell diagrams need Graphviz's dot program (Debian: apt-get install graphviz)."
        )
    if info.about:
        doc.add("h2", "About this run")
        doc.add("terms", info.about)
    return doc


def prior_sentence(rounds: Sequence[RoundRecord]) -> list[Inline]:
    """Which priors the fits trained on (search.prior) and what one prior architecture
    weighed beside one of the search's own, per fit; [] without priors."""
    fits = [(r.round, r.fit) for r in rounds if r.fit.get("prior")]
    if not fits:
        return []
    weights = ", ".join(f"{f.get('prior_weight', 0.0):.2g} (fit for round {n})" for n, f in fits)
    return [
        "Every fit also trained on the architectures of earlier searches (by their rank within "
        "each file): ", ("code", str(fits[0][1]["prior"])), ". One of them weighed, beside one "
        f"architecture of this search: {weights}.",
    ]  # fmt: skip


def final_sentence(final: FinalOutcome) -> list[Inline]:
    """The final training's outcome (an image network's: final.py trains those only)."""
    parts: list[Inline] = []
    if final.test_accuracy is not None:
        parts.append(("b", f"test accuracy {final.test_accuracy:.4f}"))
    for value, name in ((final.params, "parameters"), (final.macs, "multiply-adds")):
        if value is not None:
            parts.append(f", {si(value)} {name}")
    if final.epochs is not None:
        parts.append(f", {final.epochs} epochs")
    if final.arch_id:
        parts += [", id ", ("code", final.arch_id)]
    return parts + ["."]


def write_report(
    result: SearchResult,
    pool: Sequence[PoolEntry],
    out_dir: Path,
    *,
    count_params: Callable[[Arch], int] | None = None,
    inline_markdown: Path | None = None,
    info: RunInfo | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html, accuracy.png, pareto.png (when the architectures have
    sizes) and <cell>.svg into out_dir: one build of the report, in two renderings.

    report.md links the images beside it; report.html is self-contained; inline_markdown, when
    given, gets the same Markdown with its images embedded as data URIs (a KFP Markdown artifact
    is one file). count_params (param_counter) sizes the architectures when the pool records no
    sizes. `result` has the pool's statistics already (result.json: poolstats.with_pool_stats).
    info: the run's metadata and next steps (run_info)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = accuracy_plot(result.rounds, pool, result.metric) if result.rounds else b""
    (out_dir / "accuracy.png").write_bytes(png)
    images = {"accuracy.png": png}
    best = result.best
    sizes = pool_sizes(pool, count_params)
    if sizes is not None:
        winner = best.id if best else None
        images["pareto.png"] = pareto_plot(sizes, winner, result.metric)
        (out_dir / "pareto.png").write_bytes(images["pareto.png"])
    svgs = cell_diagrams(result.space, best.arch) if best else {}
    for name, svg in svgs.items():
        (out_dir / f"{name}.svg").write_text(svg)
    data = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in images.items()}
    for name, svg in svgs.items():
        data[f"{name}.svg"] = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    linked = build_doc(result, {k: k for k in data}, list(svgs), sizes, info)
    (out_dir / "report.md").write_text(linked.markdown())
    embedded = build_doc(result, data, list(svgs), sizes, info)
    (out_dir / "report.html").write_text(embedded.html(svgs, f"NAO report: {result.name}"))
    paths = {
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
        "plot": out_dir / "accuracy.png",
    }
    if inline_markdown is not None:
        inline_markdown.write_text(embedded.markdown())
        paths["inline_markdown"] = inline_markdown
    if sizes is not None:
        paths["pareto"] = out_dir / "pareto.png"
    paths.update({name: out_dir / f"{name}.svg" for name in svgs})
    return paths


def run_info(cfg: Config, result: SearchResult) -> RunInfo:
    """The report's metadata and next steps for this run's config (runinfo.py)."""

    return RunInfo(runinfo.about(cfg), runinfo.next_steps(cfg, result))


def param_counter(cfg: Config) -> Callable[[Arch], int] | None:
    """Parameters of the child network the search trains for an architecture (child.layers,
    child.channels, the data set's images; no auxiliary head), for spaces with an image network;
    None for others. For the report of evaluators that record no sizes (table, synthetic,
    supernet)."""
    from nao_kfp.child.params import IMAGE_SHAPES, Budget, search_spec

    space = get_space(cfg.search.space)
    if not space.network or space.data != "image" or cfg.child.dataset not in IMAGE_SHAPES:
        return None
    budget = Budget(space, search_spec(cfg.child))
    return lambda arch: budget.counts(arch)[0]
