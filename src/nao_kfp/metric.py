"""What a search's children are judged by: one metric per space, and how its score reads.

The search ranks architectures by a score, higher is better: the pool's `accuracy`, the round
records' best, mean and predicted values, the winner's `dev_accuracy`. For an image network the
score is its dev accuracy (a fraction); for a language model it is 1 - ln(ppl) / ln(V), its
validation perplexity over a vocabulary of V words (exact unless clipped to [0, 1]: a mean score
is the geometric-mean perplexity); with zero-cost proxies it is a score of its own. A space
declares its metric (`SearchSpace.metric`), result.json records it (`Metric`: the name, and a
perplexity's vocabulary), and the report, the summary, the plots, the progress lines and the
findings read every score through it. This module and the spaces are the only places that know
a metric by its name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nao_kfp.jsontypes import JSONObject
from nao_kfp.units import pct

if TYPE_CHECKING:
    from nao_kfp.pool import PoolEntry


@dataclass(frozen=True)
class Kind:
    """How one metric reads: its words and number format, and which way is better."""

    name: str
    label: str  # the value a person reads, in a sentence: "dev accuracy"
    short: str  # the same in a table head: "dev acc"
    higher_is_better: bool
    text: Callable[[float], str]  # a value (not a score), as a person reads it
    axis: str  # a plot's axis
    # the rounds table's heads and meanings of a round's scores (RoundRecord fields)
    columns: dict[str, tuple[str, str]]
    unit: str = ""  # what precedes a value in a progress line: "ppl 81.20"
    # the value of a score, given the metric's vocabulary (None: the value is the score)
    value: Callable[[float, int], float] | None = None
    percent: bool = False  # values are fractions, read in percent; differences in points


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


ACCURACY_COLUMNS = {
    "best_accuracy": ("best dev acc", "the round's best accuracy on the dev split (held out "
                      "from training; the search ranks by it)"),
    "mean_accuracy": ("mean dev acc", "the round's mean dev accuracy"),
    "predicted_mean": ("predicted (new)", "the predictor's mean dev accuracy for the round's "
                       "new architectures, before they were trained (the paper's Fig. 2b)"),
    "real_mean": ("measured (new)", "their mean dev accuracy once trained"),
}  # fmt: skip
KINDS = {
    k.name: k
    for k in (
        Kind("accuracy", "dev accuracy", "dev acc", True, pct, "dev accuracy", ACCURACY_COLUMNS,
             percent=True),
        Kind("score", "score", "score", True, _number, "zero-cost proxy score", {
            **ACCURACY_COLUMNS,
            "best_accuracy": ("best score", "the round's best zero-cost proxy score (untrained "
                              "networks)"),
            "mean_accuracy": ("mean score", "the round's mean zero-cost proxy score (untrained "
                              "networks)"),
        }, unit="score "),
        Kind("perplexity", "dev perplexity", "dev ppl", False, _two,
             "dev perplexity (lower is better)", {
            "best_accuracy": ("best dev ppl", "the round's best perplexity on the dev split "
                              "(lower is better; the search ranks by it)"),
            "mean_accuracy": ("mean dev ppl (geometric)", "the geometric mean of the round's dev "
                              "perplexities"),
            "predicted_mean": ("predicted ppl (new)", "the predictor's (geometric) mean "
                               "perplexity for the round's new architectures, before they were "
                               "trained"),
            "real_mean": ("real ppl (new)", "their geometric mean perplexity once trained"),
        }, unit="ppl ", value=score_to_perplexity),
    )
}  # fmt: skip
# A round record's scores, and the names the metric's values take in a round's KFP Metrics
# (best_perplexity, ...): the value of a mean score is a perplexity's geometric mean.
SCORES = {
    "best_accuracy": "best_{}",
    "mean_accuracy": "mean_{}",
    "best_so_far": "best_{}_so_far",
    "predicted_mean": "predicted_{}",
    "real_mean": "real_{}",
}


@dataclass(frozen=True)
class Metric:
    """result.json's `metric`: what the search's scores stand for. vocab: a perplexity's
    vocabulary (None until a child reported one)."""

    name: str = "accuracy"
    vocab: int | None = None

    @property
    def kind(self) -> Kind:
        """How it reads; a score (as it is) while its value cannot be computed (a perplexity
        before a child reported its vocabulary)."""
        kind = KINDS.get(self.name, KINDS["score"])
        return kind if kind.value is None or self.vocab else KINDS["score"]

    @property
    def wants_vocab(self) -> bool:
        """Its value needs a vocabulary it does not have yet (with_vocab finds it)."""
        return KINDS.get(self.name, KINDS["score"]).value is not None and not self.vocab

    @property
    def label(self) -> str:
        return self.kind.label

    @property
    def short(self) -> str:
        return self.kind.short

    def value(self, score: float | None) -> float | None:
        """The value a score stands for (an accuracy, a perplexity); None for None."""
        if score is None:
            return None
        convert = self.kind.value
        if convert is None or not self.vocab:
            return float(score)
        return convert(float(score), self.vocab)

    def text(self, score: float | None) -> str:
        """A score as a person reads it: '89.67%', '81.20' (a perplexity), '0.6931'; '-'. A
        score clipped at 0 reads as the bound it stands for: a perplexity of at least V
        ('≥ 10000.00': no better than a uniform guess)."""
        value = self.value(score)
        if value is None:
            return "-"
        clipped = self.kind.value is not None and score is not None and score <= 0.0
        return ("≥ " if clipped else "") + self.kind.text(value)

    def tagged(self, score: float | None) -> str:
        """A score with what it is, for a progress line: '89.67%', 'ppl 81.20', 'score 0.69'."""
        return self.kind.unit + self.text(score)

    def values(self, record: JSONObject) -> JSONObject:
        """A round record's numbers with its scores as the metric's values, named after it
        (SCORES: best_perplexity, ...); as they are where the value is the score."""
        if self.kind.value is None:
            return record
        out = {k: v for k, v in record.items() if k not in SCORES}
        for key, name in SCORES.items():
            score = record.get(key)
            if isinstance(score, (int, float)) and not isinstance(score, bool):
                out[name.format(self.name)] = self.value(float(score))
        return out

    def with_vocab(self, entries: Iterable[PoolEntry]) -> Metric:
        """The metric with the vocabulary the entries' children reported (their `vocab`), for
        a metric whose value needs one."""
        if not self.wants_vocab:
            return self
        vocab = next((v for e in entries if (v := e.integer("vocab"))), None)
        return Metric(self.name, vocab)


ACCURACY = Metric("accuracy")
SCORE = Metric("score")
PERPLEXITY = Metric("perplexity")


def training_words(record: Mapping[str, object]) -> str:
    """How a supernet's training epoch went, from its record: a language model's training
    perplexity, else its training accuracy."""
    ppl = record.get("perplexity")
    if isinstance(ppl, (int, float)):
        return f"ppl {ppl:.2f}"
    return f"train accuracy {pct(record.get('train_accuracy'))}"


# The rounds table's column of a supernet's training (RoundRecord.supernet) beyond its epoch and
# loss, per metric: the key in its epoch record, the head, the meaning, percent or not.
TRAINING_COLUMNS = {
    "accuracy": ("train_accuracy", "supernet train acc",
                 "the supernet's training accuracy in that epoch", True),
    "perplexity": ("perplexity", "supernet train ppl",
                   "the supernet's training perplexity in that epoch (with dropout)", False),
}  # fmt: skip
