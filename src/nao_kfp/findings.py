"""What the search found, in words: NAO's proposals against the random architectures (count,
mean and best by origin, predicted against measured), whether the predictor orders architectures
better than chance yet, and the test accuracy where one was measured.

`nao search` prints it under the rounds table and the report opens with it; both read it from
result.json (its `origins`, `rounds` and `best`, poolstats.py), so the two say the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nao_kfp.metric import Metric
from nao_kfp.records import OriginStats, RoundRecord, SearchResult
from nao_kfp.spaces import get_space
from nao_kfp.units import pct, points

# The pool's sources, grouped as a person asks about them: did NAO's proposals do better than
# architectures drawn at random? (rounds.propose and steps.sample name the sources)
PROPOSED = ("nao", "nao-nearest", "mutation")
GROUPS = (
    ("random", ("random", "explore", "random-fill")),
    ("proxies' picks", ("proxy",)),
    ("earlier searches' best", ("prior",)),
    ("NAO's proposals", PROPOSED),
)


@dataclass(frozen=True)
class Group:
    """The evaluated architectures of one group of origins."""

    label: str
    evaluated: int
    mean: float | None
    best: float | None
    predicted_mean: float | None  # the predictor's mean for those it scored, and their
    real_mean: float | None  # measured mean


def groups(origins: Sequence[OriginStats]) -> list[Group]:
    """GROUPS with at least one evaluated architecture, in GROUPS' order; any other source
    gets a group of its own after them."""
    known = {s for _, members in GROUPS for s in members}
    extra = [(o.source, (o.source,)) for o in origins if o.source not in known]
    out = []
    for label, members in (*GROUPS, *extra):
        part = [o for o in origins if o.source in members and o.evaluated]
        if part:
            out.append(
                Group(
                    label,
                    sum(o.evaluated for o in part),
                    _weighted([(o.mean_accuracy, o.evaluated) for o in part]),
                    max(
                        (o.best_accuracy for o in part if o.best_accuracy is not None), default=None
                    ),
                    _weighted([(o.predicted_mean, o.predicted) for o in part]),
                    _weighted([(o.real_mean, o.predicted) for o in part]),
                )
            )
    return out


def _weighted(pairs: Sequence[tuple[float | None, int]]) -> float | None:
    total, weighted = 0, 0.0
    for value, n in pairs:
        if value is not None and n > 0:
            total, weighted = total + n, weighted + value * n
    return weighted / total if total else None


# ---------------------------------------------------------------- how a score reads


def score_text(result: SearchResult) -> Callable[[float | None], str]:
    """How the search's scores read: as its metric reads them (metric.py)."""
    return result.metric.text


def metric_name(result: SearchResult) -> str:
    return result.metric.label


# ---------------------------------------------------------------- the predictor


def chance_band(n: int) -> float:
    """The share of pairs a predictor that orders n architectures at random gets right less
    than about 1 time in 40: 50% plus two standard deviations (Kendall's tau is about normal
    with variance 2(2n+5) / 9n(n-1) under independence; the share of pairs right is
    (tau + 1) / 2). Above 1 when n is too small for any ordering to stand out."""
    return 0.5 + math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1))) if n >= 2 else math.inf


def predictor_sentence(rounds: Sequence[RoundRecord]) -> str | None:
    """Whether the predictor orders NAO's proposals better than chance, in plain words, from
    each round's pairwise accuracy over its proposals; None when no round had two."""
    judged = [r for r in rounds if r.pairwise_accuracy is not None and r.proposed >= 2]
    if not judged:
        return None
    said = [f"{pct(r.pairwise_accuracy, 0)} of the time in round {r.round}" for r in judged]
    counts = sorted({r.proposed for r in judged})
    bands = {n: chance_band(n) for n in counts}
    good = [r for r in judged if r.pairwise_accuracy is not None
            and r.pairwise_accuracy >= bands[r.proposed]]  # fmt: skip
    share = (
        f"Of each pair of a round's proposals, the predictor put the better one first "
        f"{_join(said)} (a coin: 50%)."
    )
    if good:
        rounds_ = _join([str(r.round) for r in good])
        rest = [str(r.round) for r in judged if r not in good]
        not_yet = f", not in round {_join(rest)}" if rest else ""
        return share + f" It ranked them better than chance in round {rounds_}{not_yet}."
    per_round = _join([str(n) for n in counts])
    reachable = [n for n in counts if bands[n] <= 1.0]
    if not reachable:
        return share + (
            f" With {per_round} architectures a round no ranking can be told from luck: "
            "the predictor is still guessing."
        )
    needed = _join(
        [f"with {n} architectures a round only {pct(bands[n], 0)} or more" for n in reachable]
    )
    return share + (
        f" But {needed} would tell a ranking from luck: the predictor is still guessing."
    )


def _join(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------- the story


def comparison(result: SearchResult) -> str | None:
    """NAO's proposals against the random architectures (or, without random ones, round 1's
    initial architectures): count, mean and best; None without both."""
    found = {g.label: g for g in groups(result.origins)}
    nao = found.get("NAO's proposals")
    base = found.get("random") or _initial(result.origins)
    if nao is None or base is None or nao.mean is None or base.mean is None:
        return None
    fmt, what = score_text(result), metric_name(result)
    verb = "beat" if nao.mean > base.mean else "did not beat"
    gap = f" ({points(nao.mean - base.mean)})" if result.metric.kind.percent else ""
    return (
        f"NAO's proposals {verb} the {base.label} architectures: mean {what} {fmt(nao.mean)} "
        f"over {nao.evaluated} proposals against {fmt(base.mean)} over {base.evaluated}{gap}; "
        f"best {fmt(nao.best)} against {fmt(base.best)}."
    )


def _initial(origins: Sequence[OriginStats]) -> Group | None:
    """Round 1's architectures whatever chose them (a search whose initial sample is the
    proxies' picks or the priors' best has no random group)."""
    part = [o for o in origins if o.source not in PROPOSED and o.evaluated]
    if not part:
        return None
    n = sum(o.evaluated for o in part)
    mean = _weighted([(o.mean_accuracy, o.evaluated) for o in part])
    best = max((o.best_accuracy for o in part if o.best_accuracy is not None), default=None)
    return Group("initial", n, mean, best, None, None)


SOURCE_WORDS = {
    "random": "drawn at random",
    "proxy": "picked by zero-cost proxies",
    "prior": "an earlier search's best",
    "nao": "proposed by NAO",
    "nao-nearest": "proposed by NAO (its nearest scorable stand-in)",
    "mutation": "a mutation of a seed, ranked first by NAO's predictor",
    "explore": "drawn at random (search.random_share)",
    "random-fill": "drawn at random (filling a round NAO could not)",
}


def source_words(source: str) -> str:
    return SOURCE_WORDS.get(source, source)


def best_sentence(result: SearchResult) -> str | None:
    """Where the best architecture came from, and its test accuracy when one was measured."""
    best = result.best
    if best is None:
        return None
    origin = (
        f"was proposed by NAO (round {best.round})"
        if best.source in PROPOSED
        else f"came from round {best.round}'s initial sample ({best.source})"
    )
    metric = best_metric(result)
    text = f"The best architecture {origin}: {metric.label} {metric.text(best.dev_accuracy)}"
    if best.test_accuracy is not None:
        test = metric.label.replace("dev ", "test ")
        text += (
            f", {test} {metric.text(best.test_accuracy)} (the test split: never seen by the search)"
        )
    return text + "."


def best_metric(result: SearchResult) -> Metric:
    """How the winner's scores read: the search's metric, or where the winner was retrained
    from scratch (the re-rank) its space's own (a proxy search's winner has a dev accuracy)."""
    if not result.rerank:
        return result.metric
    return Metric(get_space(result.space).metric.name, result.metric.vocab)


def story(result: SearchResult) -> list[str]:
    """The sentences, in order: the comparison, the best architecture, the predictor."""
    return [
        s
        for s in (comparison(result), best_sentence(result), predictor_sentence(result.rounds))
        if s
    ]


def origin_rows(result: SearchResult) -> tuple[list[str], list[list[str]]]:
    """The by-origin table: heads and rows (origin, count, mean, best, predicted mean)."""
    fmt, what = score_text(result), result.metric.short
    heads = ["origin", "archs", f"mean {what}", f"best {what}", "predicted mean"]
    rows = [
        [g.label, str(g.evaluated), fmt(g.mean), fmt(g.best), fmt(g.predicted_mean)]
        for g in groups(result.origins)
    ]
    return heads, rows
