"""What the pool adds to the search's records: the children's sizes, the origins' statistics,
and the vocabulary a metric needs to read its scores (metric.py).
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nao_kfp.jsontypes import JSONObject
from nao_kfp.kinds import metric_for
from nao_kfp.pool import PoolEntry, read_pool
from nao_kfp.records import OriginStats, RoundRecord, SearchResult, to_dict

if TYPE_CHECKING:
    from nao_kfp.config import Config


def _number(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def with_pool_stats(result: SearchResult, pool: Sequence[PoolEntry]) -> SearchResult:
    """result with what the pool adds: per round the parameters of the best and the mean
    child, the origins' statistics, for the best architecture its params, MACs and test score,
    and the vocabulary the metric reads its scores with. A new record; applying it twice changes
    nothing."""
    out = copy.deepcopy(result)
    ok = [e for e in pool if e.status == "ok" and e.accuracy is not None]
    out.metric = out.metric.with_vocab(ok)
    for rec in out.rounds:
        members = [e for e in ok if e.round == rec.round]
        best = max(members, key=lambda e: (e.accuracy, e.id), default=None)
        params = [p for e in members if (p := e.integer("params")) is not None]
        rec.best_params = best.integer("params") if best else None
        rec.mean_params = statistics.fmean(params) if params else None
    out.origins = origin_stats(ok)
    top = out.best
    if top is not None:
        match = next((e for e in ok if e.id == top.id), None)
        kinds = {"params": int, "macs": int, "test_accuracy": float}
        for key, kind in kinds.items():
            if getattr(top, key) is None and match is not None and key in match.extra:
                setattr(top, key, _number(match.extra[key], kind))
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


def metric_values(record: RoundRecord, cfg: Config, pool_path: Path) -> JSONObject:
    """What a round step logs as KFP Metrics: the record's numbers, its scores as the values
    the metric reads them as (metric.Metric.values). Only the
    pool of a metric that needs a vocabulary is read."""
    metric = metric_for(cfg)
    if metric.wants_vocab:
        metric = metric.with_vocab(read_pool(pool_path))
    return metric.values(to_dict(record))
