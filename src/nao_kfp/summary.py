"""The rounds table of a search (what `nao search` prints at the end and the report shows): one
Column per number of a RoundRecord, its scores read as the result's metric reads them
(metric.py), and the one line about the best.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from nao_kfp import findings
from nao_kfp.kinds import KINDS
from nao_kfp.metric import TRAINING_COLUMNS, Metric
from nao_kfp.records import RoundRecord, SearchResult
from nao_kfp.spaces import get_space
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


def _score(key: str, metric: Metric) -> Column:
    """A column of a round's scores, read as the metric reads them."""
    head, means = metric.kind.columns[key]
    return Column(head, _field(key), metric.text, means)


def score_columns(metric: Metric) -> tuple[Column, ...]:
    """The rounds table: the round's best and mean score beside its children's sizes, the
    predictor's ordering and decoding, and its mean prediction beside the measured mean."""
    return (
        ROUND, EVALUATED, _score("best_accuracy", metric), BEST_PARAMS,
        _score("mean_accuracy", metric), MEAN_PARAMS, PAIRS, DECODER,
        _score("predicted_mean", metric), _score("real_mean", metric),
    )  # fmt: skip


COLUMNS = score_columns(Metric())
# NAO-WS: the supernet's training in each round (RoundRecord.supernet)
SUPERNET_COLUMNS = (
    Column("supernet epoch", _supernet("epoch"),
           means="epochs the shared weights (the supernet) have trained so far"),
    Column("supernet loss", _supernet("loss"), _fmt("{:.4f}"),
           "the supernet's training loss in the round's last epoch"),
)  # fmt: skip


def supernet_columns(result: SearchResult) -> tuple[Column, ...]:
    """The supernet's epoch and loss, and what its training measured (metric.py)."""
    space_metric = get_space(result.space).metric.name
    key, head, means, percent = TRAINING_COLUMNS.get(space_metric, TRAINING_COLUMNS["accuracy"])
    return (
        *SUPERNET_COLUMNS,
        Column(head, _supernet(key), pct if percent else _fmt("{:.2f}"), means),
    )


def columns(result: SearchResult) -> tuple[Column, ...]:
    base = score_columns(result.metric)
    kind = KINDS.get(result.evaluator)
    if kind is None or not kind.shares_weights:
        return base
    return base + supernet_columns(result)


def table_rows(rounds: Sequence[RoundRecord], cols: Sequence[Column] = COLUMNS) -> list[list[str]]:
    return [["-" if c.get(r) is None else c.fmt(c.get(r)) for c in cols] for r in rounds]


def glossary(result: SearchResult, cols: Sequence[Column]) -> list[tuple[str, str]]:
    """(head, meaning) of each column, for the line under the table."""
    tokens = get_space(result.space).seq_len
    return [(c.head, c.means.format(tokens=tokens)) for c in cols if c.means]


def best_line(result: SearchResult) -> str | None:
    """`dev accuracy 95.33%`, as the metric reads it, with the test value when measured and
    params when known."""
    best = result.best
    if best is None:
        return None
    metric = findings.best_metric(result)
    what = f"{metric.label} {metric.text(best.dev_accuracy)}"
    if best.test_accuracy is not None:
        what += f", {metric.label.replace('dev ', 'test ')} {metric.text(best.test_accuracy)}"
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
