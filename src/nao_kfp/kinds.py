"""Evaluator kinds: each way of scoring an architecture, declared once with what it needs and does.

`evaluator.kind` names one of KINDS. The config (the kind's values and the checks across
sections), the preflight, the pipeline's shape, the in-process loop, the progress display and
the report read these declarations; evaluators/ holds one Evaluator class per kind, whose `kind`
is its declaration here. Adding an evaluator is a declaration here and its class there (see the
contributor guide); nothing else compares `evaluator.kind` with a name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nao_kfp.metric import SCORE, Metric
from nao_kfp.spaces import get_space

if TYPE_CHECKING:
    from nao_kfp.config import Config

# What a kind may need of the search space: the SearchSpace attribute that must be set, and
# how a message names it.
NEEDS = {
    "network": "a child network to train",
    "supernet": "a weight-sharing supernet",
    "proxies": "an image network the zero-cost proxies score",
}


def _never(cfg: Config) -> bool:
    return False


def _always(cfg: Config) -> bool:
    return True


def _proxy_data(cfg: Config) -> bool:
    """The data proxies' batch of training images, or the re-rank's training of the best few."""
    return cfg.evaluator.reads_images or cfg.evaluator.rerank_top > 1


@dataclass(frozen=True)
class EvaluatorKind:
    name: str
    doc: str  # one phrase: how it scores (the config reference's choices)
    # how the report's run table says it ({epochs}: child.epochs, {table}: evaluator.table)
    says: str
    # the SearchSpace attribute (a key of NEEDS) a space must have for this kind; "": any space
    needs: str = ""
    # each evaluation trains a child network (child.* applies; progress counts children)
    trains_children: bool = False
    # NAO-WS: one supernet trains round by round and re-scores the whole pool in one task a
    # round (no shards, no merge, no priors); the rounds follow supernet.schedule()
    shares_weights: bool = False
    # its score is the zero-cost proxies' (result.json's metric is a score, not the space's)
    scores_proxies: bool = False
    # evaluator.proxies applies: proxies add to its score
    uses_proxies: bool = False
    # evaluator.table names its CSV; search.max_params is checked against the table's column,
    # so budgets apply to any space
    reads_table: bool = False
    # whether it reads the data set (its prepare stages it; the preflight checks it)
    reads_data: Callable[[Config], bool] = _never
    # it scores an architecture alone, so a Katib trial can run it (katib/); a kind that scores
    # a whole round in one task cannot
    trial: bool = True

    def needs_data(self, cfg: Config) -> bool:
        """Whether a search of cfg reads the data set: this kind's evaluation, or the final
        training (final.enabled)."""
        return self.reads_data(cfg) or cfg.final.enabled


KINDS = {
    k.name: k
    for k in (
        EvaluatorKind(
            "train",
            "train the child network",
            "each architecture's child network trained for {epochs} epochs, scored on the dev "
            "split",
            needs="network",
            trains_children=True,
            reads_data=_always,
        ),
        EvaluatorKind(
            "table",
            "look it up in a CSV table: a tabular benchmark",
            "looked up in a benchmark table ({table})",
            reads_table=True,
        ),
        EvaluatorKind(
            "synthetic",
            "a seeded function of the tokens, for tests and dry runs",
            "a synthetic score (no training; for tests and dry runs)",
        ),
        EvaluatorKind(
            "supernet",
            "the accuracy with one weight-sharing supernet's weights: NAO-WS",
            "shared weights (NAO-WS): one supernet trained for all architectures",
            needs="supernet",
            shares_weights=True,
            uses_proxies=True,
            reads_data=_always,
            trial=False,
        ),
        EvaluatorKind(
            "proxy",
            "zero-cost proxies of the untrained network",
            "zero-cost proxies of the untrained network",
            needs="proxies",
            scores_proxies=True,
            uses_proxies=True,
            reads_data=_proxy_data,
            trial=False,
        ),
    )  # fmt: skip
}


def kind_of(cfg: Config) -> EvaluatorKind:
    """cfg's evaluator kind (evaluator.kind is checked against KINDS when the config loads)."""
    return KINDS[cfg.evaluator.kind]


def metric_for(cfg: Config) -> Metric:
    """What cfg's scores stand for: its space's metric, or a score where zero-cost proxies
    make it (EvaluatorConfig.scores_proxies)."""
    if cfg.evaluator.scores_proxies:
        return SCORE
    return get_space(cfg.search.space).metric
