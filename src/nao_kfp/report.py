"""The search report: Markdown and a self-contained HTML page, written from one list of blocks.

It shows the best architecture, a table of the rounds (accuracy beside the parameters of the
child networks), a plot of accuracy by round with the predictor's mean prediction for each
round's new architectures beside their real mean (the paper's Fig. 2b), every evaluated
architecture's accuracy against its size with the Pareto front and the best marked, the final
training when there was one, and Graphviz diagrams of the best cells (diagrams.py).

Language models (enas-rnn) are judged by validation perplexity. The search ranks them by a score
(child/train_rnn.py: 1 - ln(ppl) / ln(V)); the report, the summary table and `with_pool_stats`
show the perplexity itself. The score is linear in ln(ppl), so the mean score of a round is the
geometric mean of its perplexities.
"""

from __future__ import annotations

import base64
import copy
import html
import io
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nao_kfp import diagrams
from nao_kfp.pool import PoolEntry

if TYPE_CHECKING:
    from nao_kfp.config import Config

LANGUAGE_MODEL_SPACES = ("enas-rnn",)

# ---------------------------------------------------------------- scores and perplexity


def is_language_model(space_name: str) -> bool:
    return space_name in LANGUAGE_MODEL_SPACES


def score_to_perplexity(score: float, vocab: int) -> float:
    """The perplexity of a score 1 - ln(ppl) / ln(V) (exact unless the score was clipped)."""
    return math.exp((1.0 - score) * math.log(vocab))


def perplexity_of(e: PoolEntry | Mapping[str, Any]) -> float | None:
    """Validation perplexity of a language-model pool entry (or its record, or a child result):
    the measured `dev_perplexity`, else the inverse of its score when the vocabulary is known;
    None for image children and for entries that were not evaluated."""
    if isinstance(e, PoolEntry):
        rec: Mapping[str, Any] = {**e.extra, "accuracy": e.accuracy, "space": e.space}
    else:
        rec = e
    if rec.get("dev_perplexity") is not None:
        return float(rec["dev_perplexity"])
    score = rec.get("accuracy", rec.get("dev_accuracy"))
    if score is None or not rec.get("vocab") or not is_language_model(rec.get("space", "enas-rnn")):
        return None
    return score_to_perplexity(float(score), int(rec["vocab"]))


def with_pool_stats(result: dict[str, Any], pool: Sequence[PoolEntry]) -> dict[str, Any]:
    """result (select_best's) with what the pool adds: per round the parameters of the best and
    the mean child, and for language models perplexities; for the best architecture its params,
    MACs, test accuracy or perplexities. A new dict; applying it twice changes nothing."""
    out = copy.deepcopy(result)
    ok = [e for e in pool if e.status == "ok" and e.accuracy is not None]
    lm = is_language_model(out["space"])
    vocab = next((int(e.extra["vocab"]) for e in ok if e.extra.get("vocab")), None)
    if lm:
        out["metric"] = {"name": "perplexity", "vocab": vocab}
    for rec in out["rounds"]:
        members = [e for e in ok if e.round == rec["round"]]
        best = max(members, key=lambda e: (e.accuracy, e.id), default=None)
        params = [int(e.extra["params"]) for e in members if e.extra.get("params") is not None]
        rec["best_params"] = best.extra.get("params") if best else None
        rec["mean_params"] = statistics.fmean(params) if params else None
        if lm:
            ppl = [p for p in (perplexity_of(e) for e in members) if p is not None]
            rec["best_perplexity"] = perplexity_of(best) if best else None
            rec["mean_perplexity"] = statistics.geometric_mean(ppl) if ppl else None
            for key in ("predicted_mean", "real_mean"):
                score = rec.get(key)
                rec[key.replace("_mean", "_perplexity")] = (
                    score_to_perplexity(score, vocab) if score is not None and vocab else None
                )
    best_rec = out.get("best")
    if best_rec:
        match = next((e for e in ok if e.id == best_rec["id"]), None)
        keys = ("params", "macs", "test_accuracy", "dev_perplexity", "test_perplexity")
        for key in keys:
            if best_rec.get(key) is None and match is not None and key in match.extra:
                best_rec[key] = match.extra[key]
        if lm and best_rec.get("dev_perplexity") is None and match is not None:
            best_rec["dev_perplexity"] = perplexity_of(match)
    return out


# ---------------------------------------------------------------- the rounds table


def _si(n: Any) -> str:
    """1234 -> 1.23k, 2.5e6 -> 2.50M."""
    x = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def _fmt(spec: str) -> Callable[[Any], str]:
    return spec.format


@dataclass(frozen=True)
class Column:
    key: str
    head: str
    fmt: Callable[[Any], str] = field(default=_fmt("{}"))


ACCURACY_COLUMNS = (
    Column("round", "round"),
    Column("evaluated", "archs"),
    Column("best_accuracy", "best dev acc", _fmt("{:.4f}")),
    Column("best_params", "params (best)", _si),
    Column("mean_accuracy", "mean dev acc", _fmt("{:.4f}")),
    Column("mean_params", "params (mean)", _si),
    Column("pairwise_accuracy", "predictor pairwise acc", _fmt("{:.3f}")),
    Column("hamming", "decoder Hamming", _fmt("{:.2f}")),
    Column("predicted_mean", "predicted mean (new)", _fmt("{:.4f}")),
    Column("real_mean", "real mean (new)", _fmt("{:.4f}")),
)
PERPLEXITY_COLUMNS = (
    Column("round", "round"),
    Column("evaluated", "archs"),
    Column("best_perplexity", "best dev ppl", _fmt("{:.2f}")),
    Column("best_params", "params (best)", _si),
    Column("mean_perplexity", "mean dev ppl (geometric)", _fmt("{:.2f}")),
    Column("mean_params", "params (mean)", _si),
    Column("pairwise_accuracy", "predictor pairwise acc", _fmt("{:.3f}")),
    Column("hamming", "decoder Hamming", _fmt("{:.2f}")),
    Column("predicted_perplexity", "predicted ppl (new)", _fmt("{:.2f}")),
    Column("real_perplexity", "real ppl (new)", _fmt("{:.2f}")),
)
# NAO-WS: the supernet's training in each round (RoundRecord.supernet)
SUPERNET_COLUMNS = (
    Column("supernet.epoch", "supernet epoch"),
    Column("supernet.loss", "supernet loss", _fmt("{:.4f}")),
    Column("supernet.train_accuracy", "supernet train acc", _fmt("{:.4f}")),
)
# the recurrent supernet of a language model: its training perplexity (with dropout)
SUPERNET_LM_COLUMNS = (
    *SUPERNET_COLUMNS[:2],
    Column("supernet.perplexity", "supernet train ppl", _fmt("{:.2f}")),
)
COLUMNS = ACCURACY_COLUMNS


def columns(result: Mapping[str, Any]) -> tuple[Column, ...]:
    lm = is_language_model(result["space"])
    base = PERPLEXITY_COLUMNS if lm else ACCURACY_COLUMNS
    if result.get("evaluator") != "supernet":
        return base
    return base + (SUPERNET_LM_COLUMNS if lm else SUPERNET_COLUMNS)


def _value(record: Mapping[str, Any], key: str) -> Any:
    for part in key.split("."):
        record = record.get(part) if isinstance(record, Mapping) else None  # type: ignore[assignment]
    return record


def table_rows(rounds: list[dict[str, Any]], cols: Sequence[Column] = COLUMNS) -> list[list[str]]:
    return [
        ["-" if _value(r, c.key) is None else c.fmt(_value(r, c.key)) for c in cols] for r in rounds
    ]


def best_line(result: Mapping[str, Any]) -> str | None:
    """`dev accuracy 0.9533` or `dev perplexity 81.20`, with params when known."""
    best = result.get("best")
    if not best:
        return None
    if is_language_model(result["space"]):
        ppl = best.get("dev_perplexity")
        what = (
            f"dev perplexity {ppl:.2f}" if ppl is not None else f"score {best['dev_accuracy']:.4f}"
        )
    else:
        what = f"dev accuracy {best['dev_accuracy']:.4f}"
    if best.get("params") is not None:
        what += f", {_si(best['params'])} params"
    return what


def summary_table(result: dict[str, Any], pool: Sequence[PoolEntry] | None = None) -> str:
    """The per-round table as aligned plain text (what `nao search` prints at the end)."""
    if pool is not None:
        result = with_pool_stats(result, pool)
    cols = columns(result)
    heads = [c.head for c in cols]
    rows = table_rows(result["rounds"], cols)
    widths = [max(len(x) for x in col) for col in zip(heads, *rows, strict=False)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(heads)] + [line(r) for r in rows]
    best = result.get("best")
    if best:
        out.append(f"best: {best_line(result)}  id {best['id']}  (round {best['round']})")
        out.append(f"  {best['arch']}")
    return "\n".join(out)


# ---------------------------------------------------------------- the plot


def _png(fig: Any) -> bytes:
    """A finished matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def accuracy_plot(rounds: list[dict[str, Any]], *, perplexity_vocab: int | None = None) -> bytes:
    """PNG: best / mean dev accuracy per round, and predicted vs real mean of new archs; with
    perplexity_vocab, the same scores shown as validation perplexity (lower is better)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a pod or CI
    import matplotlib.pyplot as plt

    def y(v: float) -> float:
        return score_to_perplexity(v, perplexity_vocab) if perplexity_vocab else v

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
        pts = [(x, y(r[key])) for x, r in zip(xs, rounds, strict=True) if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), linestyle=style, marker=marker, label=label)
    ax.set_xlabel("round")
    ax.set_ylabel("dev perplexity (lower is better)" if perplexity_vocab else "dev accuracy")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


# ---------------------------------------------------------------- accuracy versus size

SIZE_LABELS = {"params": "parameters", "macs": "multiply-adds (MACs)"}


@dataclass(frozen=True)
class SizedPoint:
    """One evaluated architecture on the accuracy-versus-size plane."""

    id: str
    size: float
    accuracy: float  # the search's score (higher is better; language models: 1 - ln ppl / ln V)


@dataclass(frozen=True)
class Sizes:
    """Every evaluated architecture with a size: `key` is params, or macs where no entry has
    params; `counted` when the sizes were computed from the space's network, not recorded."""

    key: str
    points: list[SizedPoint]
    counted: bool = False


def pool_sizes(
    pool: Sequence[PoolEntry], count_params: Callable[[Any], int] | None = None
) -> Sizes | None:
    """The sizes of the pool's evaluated architectures: their recorded params (train_child's,
    or a table's params column), else their MACs, else params counted by count_params (the
    search's child network, for evaluators that record no sizes); None when nothing gives any."""
    ok = [e for e in pool if e.status == "ok" and e.accuracy is not None]
    for key in SIZE_LABELS:
        pts = [
            SizedPoint(e.id, float(e.extra[key]), float(e.accuracy))  # type: ignore[arg-type]
            for e in ok
            if e.extra.get(key) is not None
        ]
        if pts:
            return Sizes(key, pts)
    if count_params is None or not ok:
        return None
    pts = [SizedPoint(e.id, float(count_params(e.arch)), float(e.accuracy)) for e in ok]  # type: ignore[arg-type]
    return Sizes("params", pts, counted=True)


def pareto_front(points: Sequence[SizedPoint]) -> list[SizedPoint]:
    """The points no other point dominates (as small or smaller and as accurate or more, and
    strictly better in one), smallest first; equal points are all on the front."""
    front: list[SizedPoint] = []
    for p in sorted(points, key=lambda p: (p.size, -p.accuracy, p.id)):
        last = front[-1] if front else None
        if last is None or p.accuracy > last.accuracy:
            front.append(p)
        elif p.accuracy == last.accuracy and p.size == last.size:
            front.append(p)
    return front


def pareto_plot(sizes: Sizes, winner: str | None, *, perplexity_vocab: int | None = None) -> bytes:
    """PNG: every evaluated architecture's accuracy against its size (log scale), the Pareto
    front as a step line, the search's best as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    def y(v: float) -> float:
        return score_to_perplexity(v, perplexity_vocab) if perplexity_vocab else v

    front = pareto_front(sizes.points)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax.scatter([p.size for p in sizes.points], [y(p.accuracy) for p in sizes.points], s=14,
               alpha=0.5, color="tab:blue", label=f"evaluated ({len(sizes.points)})")  # fmt: skip
    ax.step([p.size for p in front], [y(p.accuracy) for p in front], where="post",
            color="tab:orange", marker="o", markersize=5, label=f"Pareto front ({len(front)})")  # fmt: skip
    best = [p for p in sizes.points if p.id == winner]
    if best:
        ax.scatter([best[0].size], [y(best[0].accuracy)], marker="*", s=220, color="tab:red",
                   edgecolors="black", zorder=5, label="best")  # fmt: skip
    low, high = min(p.size for p in sizes.points), max(p.size for p in sizes.points)
    if low > 0:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 40k, 1M
        if high < 10 * low:  # within one decade only the minor ticks have labels
            ax.xaxis.set_minor_formatter(EngFormatter(sep=""))
    ax.set_xlabel(SIZE_LABELS[sizes.key] + (" (counted)" if sizes.counted else ""))
    ax.set_ylabel("dev perplexity (lower is better)" if perplexity_vocab else "dev accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


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
    "figure{margin:1em 0}figure svg,figure img{max-width:100%;height:auto}"
    "figcaption{font-size:.9em;color:#444}"
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
    "Predicted vs real: the predictor's mean score for each round's new architectures (after "
    "embedding optimization) beside their measured mean (the paper's Fig. 2b)."
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


def size_section(doc: Doc, result: Mapping[str, Any], sizes: Sizes | None, uri: str | None) -> None:
    """The accuracy-versus-size scatter and its Pareto front as a table, or the no-sizes note."""
    if sizes is None or uri is None:
        doc.add("p", NO_SIZES)
        return
    lm = is_language_model(result["space"])
    vocab = (result.get("metric") or {}).get("vocab")
    size = SIZE_LABELS[sizes.key]
    if sizes.counted:
        size += " (counted on the search's child network: child.layers, child.channels)"
    metric = "dev perplexity" if lm and vocab else "dev accuracy"
    doc.add("h2", "Accuracy versus size")
    doc.add("figure", "pareto.png", f"{metric} versus {size}", uri,
            PARETO_CAPTION.format(metric=metric, size=size))  # fmt: skip
    front = pareto_front(sizes.points)
    winner = (result.get("best") or {}).get("id")
    head = "dev ppl" if lm and vocab else "dev acc"
    rows = [
        [_si(p.size), f"{score_to_perplexity(p.accuracy, vocab):.2f}" if lm and vocab
         else f"{p.accuracy:.4f}", p.id + (" (best)" if p.id == winner else "")]
        for p in front
    ]  # fmt: skip
    doc.add("p", f"The Pareto front: {len(front)} of {len(sizes.points)} architectures.")
    doc.add("table", [SIZE_LABELS[sizes.key], head, "id"], rows)


def build_doc(
    result: dict[str, Any],
    uris: Mapping[str, str],
    cells: Sequence[str],
    sizes: Sizes | None = None,
) -> Doc:
    doc = Doc()
    lm = is_language_model(result["space"])
    doc.add("h1", f"NAO search report: {result['name']}")
    failed = f", {result['failed']} failed" if result["failed"] else ""
    doc.add(
        "p",
        [
            "Space ",
            ("code", result["space"]),
            f", {result['evaluated']} architectures evaluated{failed}.",
        ],
    )
    best = result.get("best")
    if best:
        doc.add(
            "p",
            [("b", "Best architecture"), f" (round {best['round']}, {best['source']}): ",
             ("b", best_line(result) or ""), ", id ", ("code", best["id"])],
        )  # fmt: skip
        doc.add("pre", best["arch"])
        doc.add("pre", best["describe"])
    final = result.get("final")
    if final:
        doc.add("h2", "Final training")
        doc.add("p", final_sentence(final, lm))
        if final.get("model_dir"):
            doc.add("p", ["Exported model: ", ("code", str(final["model_dir"]))])
        if final.get("load"):
            doc.add("pre", final["load"])
    priors = prior_sentence(result["rounds"])
    if priors:
        doc.add("h2", "Priors")
        doc.add("p", priors)
    cols = columns(result)
    doc.add("h2", "Rounds")
    doc.add("table", [c.head for c in cols], table_rows(result["rounds"], cols))
    caption = PLOT_CAPTION + (" Scores are shown as perplexity." if lm else "")
    doc.add("figure", "accuracy.png", "accuracy by round", uris["accuracy.png"], caption)
    size_section(doc, result, sizes, uris.get("pareto.png"))
    for name in cells:
        label = {"normal": "normal cell", "reduce": "reduction cell"}.get(name, name)
        doc.add("figure", name, f"best {label}", uris[f"{name}.svg"], f"The best {label}.")
    if best and not cells:
        doc.add(
            "p", "Cell diagrams need Graphviz's dot program (Debian: apt-get install graphviz)."
        )
    return doc


def prior_sentence(rounds: Sequence[Mapping[str, Any]]) -> list[Inline]:
    """Which priors the fits trained on (search.prior) and what one prior architecture
    weighed beside one of the search's own, per fit; [] without priors."""
    fits = [(r["round"], r.get("fit") or {}) for r in rounds]
    fits = [(n, f) for n, f in fits if f.get("prior")]
    if not fits:
        return []
    weights = ", ".join(f"{f.get('prior_weight', 0.0):.2g} (round {n})" for n, f in fits)
    return [
        "Every fit also trained on the architectures of earlier searches (by their rank within "
        "each file): ", ("code", str(fits[0][1]["prior"])), ". One of them weighed, beside one "
        f"architecture of this search: {weights}.",
    ]  # fmt: skip


def final_sentence(final: Mapping[str, Any], lm: bool = False) -> list[Inline]:
    parts: list[Inline] = []
    if lm and final.get("test_perplexity") is not None:
        parts.append(("b", f"test perplexity {final['test_perplexity']:.2f}"))
    elif final.get("test_accuracy") is not None:
        parts.append(("b", f"test accuracy {final['test_accuracy']:.4f}"))
    for key, name in (("params", "parameters"), ("macs", "multiply-adds")):
        if final.get(key) is not None:
            parts.append(f", {_si(final[key])} {name}")
    if final.get("epochs") is not None:
        parts.append(f", {final['epochs']} epochs")
    if final.get("arch_id"):
        parts += [", id ", ("code", final["arch_id"])]
    return parts + ["."]


def write_report(
    result: dict[str, Any],
    pool: list[PoolEntry],
    out_dir: Path,
    *,
    inline: bool = False,
    count_params: Callable[[Any], int] | None = None,
) -> dict[str, Path]:
    """Write report.md, report.html, accuracy.png, pareto.png (when the architectures have
    sizes) and <cell>.svg into out_dir.

    With inline, report.md embeds its images as data URIs (a KFP Markdown artifact is one
    file); otherwise it links the files beside it. report.html is always self-contained.
    count_params (param_counter) sizes the architectures when the pool records no sizes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = with_pool_stats(result, pool)
    vocab = (result.get("metric") or {}).get("vocab")
    png = accuracy_plot(result["rounds"], perplexity_vocab=vocab) if result["rounds"] else b""
    (out_dir / "accuracy.png").write_bytes(png)
    images = {"accuracy.png": png}
    best = result.get("best")
    sizes = pool_sizes(pool, count_params)
    if sizes is not None:
        winner = best["id"] if best else None
        images["pareto.png"] = pareto_plot(sizes, winner, perplexity_vocab=vocab)
        (out_dir / "pareto.png").write_bytes(images["pareto.png"])
    svgs = cell_diagrams(result["space"], best["arch"]) if best else {}
    for name, svg in svgs.items():
        (out_dir / f"{name}.svg").write_text(svg)
    data = {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in images.items()}
    for name, svg in svgs.items():
        data[f"{name}.svg"] = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    uris = data if inline else {k: k for k in data}
    doc = build_doc(result, uris, list(svgs), sizes)
    (out_dir / "report.md").write_text(doc.markdown())
    html_doc = build_doc(result, data, list(svgs), sizes)
    page = html_doc.html(svgs, f"NAO report: {result['name']}")
    (out_dir / "report.html").write_text(page)
    paths = {
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
        "plot": out_dir / "accuracy.png",
    }
    if sizes is not None:
        paths["pareto"] = out_dir / "pareto.png"
    paths.update({name: out_dir / f"{name}.svg" for name in svgs})
    return paths


def param_counter(cfg: Config) -> Callable[[Any], int] | None:
    """Parameters of the child network the search trains for an architecture (child.layers,
    child.channels, the data set's images; no auxiliary head), for image spaces; None for
    language models. For the report of evaluators that record no sizes (table, synthetic,
    supernet)."""
    from nao_kfp.child.params import IMAGE_SHAPES, Budget, search_spec
    from nao_kfp.spaces import get_space

    if is_language_model(cfg.search.space) or cfg.child.dataset not in IMAGE_SHAPES:
        return None
    budget = Budget(get_space(cfg.search.space), search_spec(cfg.child))
    return lambda arch: budget.counts(arch)[0]
