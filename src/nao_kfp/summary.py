"""The rounds table of a search (what `nao search` prints at the end and the report shows): one
Column per number of a RoundRecord, accuracy, perplexity (language models, poolstats.py) or
score (zero-cost proxies) columns as the result says, and the one line about the best.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from nao_kfp import findings
from nao_kfp.poolstats import is_language_model
from nao_kfp.records import RoundRecord, SearchResult
from nao_kfp.units import pct, si

if TYPE_CHECKING:
    from nao_kfp.jsontypes import Scalar


WIDTH = 100  # the findings' sentences wrap at this many characters on the console


def _fmt(spec: str) -> Callable[[Any], str]:
    return spec.format


@dataclass(frozen=True)
class Column:
    head: str
    get: Callable[[RoundRecord], object]  # the cell's value in a round's record (None: "-")
    fmt: Callable[[Any], str] = field(default=_fmt("{}"))
    means: str = ""  # the glossary's line: what the column holds, in plain words


def _field(name: str) -> Callable[[RoundRecord], object]:
    return attrgetter(name)


def _fit(key: str) -> Callable[[RoundRecord], Scalar]:
    return lambda r: r.fit.get(key)


def _supernet(key: str) -> Callable[[RoundRecord], Scalar]:
    return lambda r: r.supernet.get(key)


def _pct0(x: float) -> str:
    return pct(x, 0)


ROUND = Column("round", _field("round"), means="the round of the search (1: the initial sample)")
EVALUATED = Column("archs", _field("evaluated"), means="architectures evaluated in the round")
BEST_PARAMS = Column("params (best)", _field("best_params"), si,
                     "parameters of the round's best architecture (k: thousands)")  # fmt: skip
MEAN_PARAMS = Column("params (mean)", _field("mean_params"), si,
                     "mean parameters of the round's architectures")  # fmt: skip
PAIRS = Column(
    "pairs ordered right", _field("pairwise_accuracy"), _pct0,
    "of each pair of the round's new architectures, how often NAO's predictor put the better "
    "one first (a coin gets 50%)",
)  # fmt: skip
DECODER = Column(
    "decoder errors", _fit("hamming"), _fmt("{:.2f}"),
    "tokens per architecture the decoder got wrong when it rebuilt the architectures it was "
    "trained on (an architecture is {tokens} tokens; 0 is perfect)",
)  # fmt: skip
ACCURACY_COLUMNS = (
    ROUND,
    EVALUATED,
    Column("best dev acc", _field("best_accuracy"), pct,
           "the round's best accuracy on the dev split (held out from training; the search "
           "ranks by it)"),
    BEST_PARAMS,
    Column("mean dev acc", _field("mean_accuracy"), pct, "the round's mean dev accuracy"),
    MEAN_PARAMS,
    PAIRS,
    DECODER,
    Column("predicted (new)", _field("predicted_mean"), pct,
           "the predictor's mean dev accuracy for the round's new architectures, before they "
           "were trained (the paper's Fig. 2b)"),
    Column("measured (new)", _field("real_mean"), pct,
           "their mean dev accuracy once trained"),
)  # fmt: skip
PERPLEXITY_COLUMNS = (
    ROUND,
    EVALUATED,
    Column("best dev ppl", _field("best_perplexity"), _fmt("{:.2f}"),
           "the round's best perplexity on the dev split (lower is better; the search ranks "
           "by it)"),
    BEST_PARAMS,
    Column("mean dev ppl (geometric)", _field("mean_perplexity"), _fmt("{:.2f}"),
           "the geometric mean of the round's dev perplexities"),
    MEAN_PARAMS,
    PAIRS,
    DECODER,
    Column("predicted ppl (new)", _field("predicted_perplexity"), _fmt("{:.2f}"),
           "the predictor's (geometric) mean perplexity for the round's new architectures, "
           "before they were trained"),
    Column("real ppl (new)", _field("real_perplexity"), _fmt("{:.2f}"),
           "their geometric mean perplexity once trained"),
)  # fmt: skip
# NAO-WS: the supernet's training in each round (RoundRecord.supernet)
SUPERNET_COLUMNS = (
    Column("supernet epoch", _supernet("epoch"),
           means="epochs the shared weights (the supernet) have trained so far"),
    Column("supernet loss", _supernet("loss"), _fmt("{:.4f}"),
           "the supernet's training loss in the round's last epoch"),
    Column("supernet train acc", _supernet("train_accuracy"), pct,
           "the supernet's training accuracy in that epoch"),
)  # fmt: skip
# the recurrent supernet of a language model: its training perplexity (with dropout)
SUPERNET_LM_COLUMNS = (
    *SUPERNET_COLUMNS[:2],
    Column("supernet train ppl", _supernet("perplexity"), _fmt("{:.2f}"),
           "the supernet's training perplexity in that epoch (with dropout)"),
)  # fmt: skip
COLUMNS = ACCURACY_COLUMNS


# zero-cost proxies (result.metric name "score"): the search's numbers are scores
SCORE_HEADS = {"best dev acc": "best score", "mean dev acc": "mean score"}
SCORE_COLUMNS = tuple(
    replace(c, head=SCORE_HEADS[c.head], fmt=_fmt("{:.4f}"),
            means=f"the round's {c.head.split()[0]} zero-cost proxy score (untrained networks)")
    if c.head in SCORE_HEADS else c
    for c in ACCURACY_COLUMNS
)  # fmt: skip


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


def glossary(result: SearchResult, cols: Sequence[Column]) -> list[tuple[str, str]]:
    """(head, meaning) of each column, for the line under the table."""
    from nao_kfp.spaces import get_space

    tokens = get_space(result.space).seq_len
    return [(c.head, c.means.format(tokens=tokens)) for c in cols if c.means]


def best_line(result: SearchResult) -> str | None:
    """`dev accuracy 95.33%` or `dev perplexity 81.20`, with params when known."""
    best = result.best
    if best is None:
        return None
    if is_language_model(result.space):
        ppl = best.dev_perplexity
        what = f"dev perplexity {ppl:.2f}" if ppl is not None else f"score {best.dev_accuracy:.4f}"
    elif is_score(result) and not result.rerank:  # the winner was not retrained
        what = f"score {best.dev_accuracy:.4f}"
    else:
        what = f"dev accuracy {pct(best.dev_accuracy)}"
        if best.test_accuracy is not None:
            what += f", test accuracy {pct(best.test_accuracy)}"
    if best.params is not None:
        what += f", {si(best.params)} params"
    return what


def aligned(
    heads: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "", left: int = 0
) -> list[str]:
    """A table as plain-text lines: the first `left` columns left-aligned, the others right."""
    widths = [max(len(x) for x in col) for col in zip(heads, *rows, strict=False)]
    return [
        indent
        + "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()
        for cells in (heads, *rows)
    ]


def summary_table(result: SearchResult) -> str:
    """What `nao search` prints at the end: the per-round table, the best architecture, and
    what NAO did (findings.py: NAO's proposals against the random ones, the predictor)."""
    cols = columns(result)
    out = aligned([c.head for c in cols], table_rows(result.rounds, cols))
    best = result.best
    if best is not None:
        out.append(f"best: {best_line(result)}  id {best.id}  (round {best.round})")
        out.append(f"  {best.arch}")
    heads, rows = findings.origin_rows(result)
    if rows:
        out += ["", "What NAO did:"] + aligned(heads, rows, "  ", left=1)
    for line in findings.story(result):
        out += textwrap.wrap(line, WIDTH, initial_indent="  ", subsequent_indent="    ")
    return "\n".join(out)
