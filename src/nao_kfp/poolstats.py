"""What the pool adds to the search's records: the children's sizes, and perplexities.

Language models (enas-rnn) are judged by validation perplexity. The search ranks them by a score
(child/train_rnn.py: 1 - ln(ppl) / ln(V)); the report, the summary table and `with_pool_stats`
show the perplexity itself. The score is linear in ln(ppl), so the mean score of a round is the
geometric mean of its perplexities.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nao_kfp.jsontypes import JSONObject
from nao_kfp.pool import PoolEntry, read_pool
from nao_kfp.records import OriginStats, RoundRecord, SearchResult, to_dict

LANGUAGE_MODEL_SPACES = ("enas-rnn",)


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


def _number(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def with_pool_stats(result: SearchResult, pool: Sequence[PoolEntry]) -> SearchResult:
    """result with what the pool adds: per round the parameters of the best and the mean
    child, and for language models perplexities; for the best architecture its params, MACs,
    test accuracy or perplexities. A new record; applying it twice changes nothing."""
    out = copy.deepcopy(result)
    ok = [e for e in pool if e.status == "ok" and e.accuracy is not None]
    lm = is_language_model(out.space)
    vocab = next((v for e in ok if (v := e.integer("vocab"))), None)
    if lm:
        out.metric = {"name": "perplexity", "vocab": vocab}

    def ppl(score: float | None) -> float | None:
        return score_to_perplexity(score, vocab) if score is not None and vocab else None

    for rec in out.rounds:
        members = [e for e in ok if e.round == rec.round]
        best = max(members, key=lambda e: (e.accuracy, e.id), default=None)
        params = [p for e in members if (p := e.integer("params")) is not None]
        rec.best_params = best.integer("params") if best else None
        rec.mean_params = statistics.fmean(params) if params else None
        if lm:
            ppls = [p for p in (perplexity_of(e) for e in members) if p is not None]
            rec.best_perplexity = perplexity_of(best) if best else None
            rec.mean_perplexity = statistics.geometric_mean(ppls) if ppls else None
            rec.predicted_perplexity = ppl(rec.predicted_mean)
            rec.real_perplexity = ppl(rec.real_mean)
    out.origins = origin_stats(ok)
    top = out.best
    if top is not None:
        match = next((e for e in ok if e.id == top.id), None)
        kinds = {"params": int, "macs": int, "test_accuracy": float, "dev_perplexity": float,
                 "test_perplexity": float}  # fmt: skip
        for key, kind in kinds.items():
            if getattr(top, key) is None and match is not None and key in match.extra:
                setattr(top, key, _number(match.extra[key], kind))
        if lm and top.dev_perplexity is None and match is not None:
            top.dev_perplexity = perplexity_of(match)
    return out


def origin_stats(ok: Sequence[PoolEntry]) -> list[OriginStats]:
    """Per origin (source), in the order the pool first has it: the evaluated architectures'
    count, mean and best score, and the predictor's mean for those it scored beside their
    measured mean."""
    sources = list(dict.fromkeys(e.source for e in ok))
    out = []
    for source in sources:
        accs = [float(e.accuracy) for e in ok if e.source == source and e.accuracy is not None]
        scored = [e for e in ok if e.source == source and e.predicted is not None]
        out.append(
            OriginStats(
                source=source,
                evaluated=len(accs),
                mean_accuracy=statistics.fmean(accs) if accs else None,
                best_accuracy=max(accs, default=None),
                predicted=len(scored),
                predicted_mean=_mean(
                    [float(e.predicted) for e in scored if e.predicted is not None]
                ),
                real_mean=_mean([float(e.accuracy) for e in scored if e.accuracy is not None]),
            )
        )
    return out


def _mean(xs: Sequence[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def round_perplexities(
    new: Sequence[PoolEntry], pool: Sequence[PoolEntry]
) -> tuple[float | None, float | None]:
    """Language models: the round's best validation perplexity and the best of the whole pool
    so far; Nones for image children."""
    ppls = [p for p in map(perplexity_of, new) if p is not None]
    if not ppls:
        return None, None
    every = [p for p in map(perplexity_of, (e for e in pool if e.status == "ok")) if p is not None]
    return min(ppls), min(every)


# A language model's scores (1 - ln ppl / ln V) under their accuracy names, and the perplexity
# each stands for in Metrics (the mean score is the geometric mean perplexity); pairwise_accuracy
# is the predictor's ranking, not a score.
SCORE_PERPLEXITY = {
    "best_accuracy": "best_perplexity",
    "mean_accuracy": "mean_perplexity",
    "best_so_far": "best_perplexity_so_far",
    "predicted_mean": "predicted_perplexity",
    "real_mean": "real_perplexity",
}


def metric_values(record: RoundRecord, space: str, pool_path: Path) -> JSONObject:
    """What a round step logs as KFP Metrics: the record's numbers, a language model's as
    perplexities (lower is better) instead of scores. Only a language model's pool is read
    (it knows the vocabulary)."""
    values = to_dict(record)
    if not is_language_model(space):
        return values
    vocab = next((v for e in read_pool(pool_path) if (v := e.integer("vocab"))), 0)
    if not vocab:
        return values
    out = {k: v for k, v in values.items() if k not in SCORE_PERPLEXITY}
    for key, name in SCORE_PERPLEXITY.items():
        score = values.get(key)
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            out[name] = score_to_perplexity(float(score), vocab)
    return out
