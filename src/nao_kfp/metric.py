"""What a search's children are judged by: one metric per space, and how its score reads.

The search ranks architectures by a score, higher is better: the pool's `accuracy`, the round
records' best, mean and predicted values, the winner's `dev_accuracy`. For an image network the
score is its dev accuracy (a fraction); for a language model it is 1 - ln(ppl) / ln(V), its
validation perplexity over a vocabulary of V words (exact unless clipped to [0, 1]: a mean score
is the geometric-mean perplexity); with zero-cost proxies it is a score of its own. A space
declares its metric (`SearchSpace.metric`), result.json records it (`Metric`: the name, and a
perplexity's vocabulary), and the report, the summary, the progress lines and the findings read
every score through it. This module and the spaces are the only places that know a metric by
its name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nao_kfp.units import pct

if TYPE_CHECKING:
    from nao_kfp.pool import PoolEntry


@dataclass(frozen=True)
class Kind:
    """How one metric reads: its words and number format, and which way is better."""

    name: str
    label: str  # the value a person reads, in a sentence: "dev accuracy"
    short: str  # the same in a table head or a progress line: "dev acc"
    higher_is_better: bool
    text: Callable[[float], str]  # a value (not a score), as a person reads it
    mean: str = "mean"  # how the mean of scores reads (a perplexity's is geometric)
    # the value of a score, given the metric's vocabulary (None: the value is the score)
    value: Callable[[float, int], float] | None = None
    # the key of a measured value beside a child's score (None: the score is the value)
    measured: str | None = None
    percent: bool = False  # differences read as percentage points


def _number(x: float) -> str:
    return f"{x:.4f}"


def _two(x: float) -> str:
    return f"{x:.2f}"


def perplexity_score(ppl: float, vocab: int) -> float:
    """A language model's score: 1 - ln(ppl) / ln(V), clipped to [0, 1] (higher is better)."""
    return min(max(1.0 - math.log(ppl) / math.log(vocab), 0.0), 1.0)


def score_to_perplexity(score: float, vocab: int) -> float:
    """The perplexity of a score 1 - ln(ppl) / ln(V) (exact unless the score was clipped)."""
    return math.exp((1.0 - score) * math.log(vocab))


KINDS = {
    k.name: k
    for k in (
        Kind("accuracy", "dev accuracy", "dev acc", True, pct, percent=True),
        Kind("score", "score", "score", True, _number),
        Kind(
            "perplexity",
            "dev perplexity",
            "dev ppl",
            False,
            _two,
            mean="mean (geometric)",
            value=score_to_perplexity,
            measured="dev_perplexity",
        ),  # fmt: skip
    )
}


@dataclass(frozen=True)
class Metric:
    """result.json's `metric`: what the search's scores stand for. vocab: a perplexity's
    vocabulary (None until a child reported one)."""

    name: str = "accuracy"
    vocab: int | None = None

    @property
    def kind(self) -> Kind:
        return KINDS.get(self.name, KINDS["score"])

    @property
    def label(self) -> str:
        """What a person reads the value as ("dev accuracy"); a score when it cannot be
        converted (a perplexity without its vocabulary)."""
        return self.kind.label if self.converts else KINDS["score"].label

    @property
    def short(self) -> str:
        return self.kind.short if self.converts else KINDS["score"].short

    @property
    def converts(self) -> bool:
        return self.kind.value is None or bool(self.vocab)

    def value(self, score: float | None) -> float | None:
        """The value a score stands for (an accuracy, a perplexity); None for None."""
        if score is None:
            return None
        convert = self.kind.value
        if convert is None:
            return float(score)
        return convert(float(score), self.vocab) if self.vocab else float(score)

    def text(self, score: float | None) -> str:
        """A score as a person reads it: '89.67%', '81.20' (a perplexity), '0.6931'; '-'."""
        value = self.value(score)
        if value is None:
            return "-"
        return self.kind.text(value) if self.converts else _number(value)

    def measured(self, entry: PoolEntry) -> float | None:
        """An evaluated entry's value: what its child measured (a language model's
        dev perplexity) when it says, else the value of its score."""
        key = self.kind.measured
        if key is not None and entry.number(key) is not None:
            return entry.number(key)
        return self.value(entry.accuracy)

    def with_vocab(self, entries: Iterable[PoolEntry]) -> Metric:
        """The metric with the vocabulary the entries' children reported (their `vocab`), for
        a metric whose value needs one."""
        if self.kind.value is None:
            return self
        vocab = next((v for e in entries if (v := e.integer("vocab"))), None)
        return Metric(self.name, vocab)


ACCURACY = Metric("accuracy")
SCORE = Metric("score")
PERPLEXITY = Metric("perplexity")
