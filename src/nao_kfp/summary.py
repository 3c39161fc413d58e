"""The rounds table of a search (what `nao search` prints at the end and the report shows): one
Column per number of a RoundRecord, accuracy, perplexity (language models, poolstats.py) or
score (zero-cost proxies) columns as the result says, and the one line about the best.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from nao_kfp.poolstats import is_language_model
from nao_kfp.records import RoundRecord, SearchResult

if TYPE_CHECKING:
    from nao_kfp.jsontypes import Scalar


def si(n: float) -> str:
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
    head: str
    get: Callable[[RoundRecord], object]  # the cell's value in a round's record (None: "-")
    fmt: Callable[[Any], str] = field(default=_fmt("{}"))


def _field(name: str) -> Callable[[RoundRecord], object]:
    return attrgetter(name)


def _fit(key: str) -> Callable[[RoundRecord], Scalar]:
    return lambda r: r.fit.get(key)


def _supernet(key: str) -> Callable[[RoundRecord], Scalar]:
    return lambda r: r.supernet.get(key)


ACCURACY_COLUMNS = (
    Column("round", _field("round")),
    Column("archs", _field("evaluated")),
    Column("best dev acc", _field("best_accuracy"), _fmt("{:.4f}")),
    Column("params (best)", _field("best_params"), si),
    Column("mean dev acc", _field("mean_accuracy"), _fmt("{:.4f}")),
    Column("params (mean)", _field("mean_params"), si),
    Column("predictor pairwise acc", _field("pairwise_accuracy"), _fmt("{:.3f}")),
    Column("decoder Hamming", _fit("hamming"), _fmt("{:.2f}")),
    Column("predicted mean (new)", _field("predicted_mean"), _fmt("{:.4f}")),
    Column("real mean (new)", _field("real_mean"), _fmt("{:.4f}")),
)
PERPLEXITY_COLUMNS = (
    Column("round", _field("round")),
    Column("archs", _field("evaluated")),
    Column("best dev ppl", _field("best_perplexity"), _fmt("{:.2f}")),
    Column("params (best)", _field("best_params"), si),
    Column("mean dev ppl (geometric)", _field("mean_perplexity"), _fmt("{:.2f}")),
    Column("params (mean)", _field("mean_params"), si),
    Column("predictor pairwise acc", _field("pairwise_accuracy"), _fmt("{:.3f}")),
    Column("decoder Hamming", _fit("hamming"), _fmt("{:.2f}")),
    Column("predicted ppl (new)", _field("predicted_perplexity"), _fmt("{:.2f}")),
    Column("real ppl (new)", _field("real_perplexity"), _fmt("{:.2f}")),
)
# NAO-WS: the supernet's training in each round (RoundRecord.supernet)
SUPERNET_COLUMNS = (
    Column("supernet epoch", _supernet("epoch")),
    Column("supernet loss", _supernet("loss"), _fmt("{:.4f}")),
    Column("supernet train acc", _supernet("train_accuracy"), _fmt("{:.4f}")),
)
# the recurrent supernet of a language model: its training perplexity (with dropout)
SUPERNET_LM_COLUMNS = (
    *SUPERNET_COLUMNS[:2],
    Column("supernet train ppl", _supernet("perplexity"), _fmt("{:.2f}")),
)
COLUMNS = ACCURACY_COLUMNS


# zero-cost proxies (result.metric name "score"): the search's numbers are scores
SCORE_HEADS = {"best dev acc": "best score", "mean dev acc": "mean score"}
SCORE_COLUMNS = tuple(replace(c, head=SCORE_HEADS.get(c.head, c.head)) for c in ACCURACY_COLUMNS)


def is_score(result: SearchResult) -> bool:
    return result.metric.get("name") == "score"


def columns(result: SearchResult) -> tuple[Column, ...]:
    lm = is_language_model(result.space)
    base = PERPLEXITY_COLUMNS if lm else SCORE_COLUMNS if is_score(result) else ACCURACY_COLUMNS
    if result.evaluator != "supernet":
        return base
    return base + (SUPERNET_LM_COLUMNS if lm else SUPERNET_COLUMNS)


def table_rows(rounds: Sequence[RoundRecord], cols: Sequence[Column] = COLUMNS) -> list[list[str]]:
    return [["-" if c.get(r) is None else c.fmt(c.get(r)) for c in cols] for r in rounds]


def best_line(result: SearchResult) -> str | None:
    """`dev accuracy 0.9533` or `dev perplexity 81.20`, with params when known."""
    best = result.best
    if best is None:
        return None
    if is_language_model(result.space):
        ppl = best.dev_perplexity
        what = f"dev perplexity {ppl:.2f}" if ppl is not None else f"score {best.dev_accuracy:.4f}"
    elif is_score(result) and not result.rerank:  # the winner was not retrained
        what = f"score {best.dev_accuracy:.4f}"
    else:
        what = f"dev accuracy {best.dev_accuracy:.4f}"
    if best.params is not None:
        what += f", {si(best.params)} params"
    return what


def summary_table(result: SearchResult) -> str:
    """The per-round table as aligned plain text (what `nao search` prints at the end)."""
    cols = columns(result)
    heads = [c.head for c in cols]
    rows = table_rows(result.rounds, cols)
    widths = [max(len(x) for x in col) for col in zip(heads, *rows, strict=False)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(heads)] + [line(r) for r in rows]
    best = result.best
    if best is not None:
        out.append(f"best: {best_line(result)}  id {best.id}  (round {best.round})")
        out.append(f"  {best.arch}")
    return "\n".join(out)
