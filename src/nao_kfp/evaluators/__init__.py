"""Evaluators: how an architecture gets its accuracy, behind one interface (`base.Evaluator`).

The search loop (steps.py, rounds.py) never knows which one runs; `evaluator.kind` in the
config picks it: `train` (child training with the store's result cache and per-epoch resume),
`table` (a CSV lookup: the tabular benchmark), `synthetic` (a seeded function, for tests) or
`supernet` (NAO-WS: shared weights, trained round by round by steps.supernet_round; it also
chooses the winner, Evaluator.select) or `proxy` (zero-cost proxies of the untrained network).
"""

from __future__ import annotations

from nao_kfp.config import Config
from nao_kfp.errors import ConfigError
from nao_kfp.evaluators.base import Evaluator
from nao_kfp.evaluators.proxy import ProxyEvaluator
from nao_kfp.evaluators.supernet import SupernetEvaluator
from nao_kfp.evaluators.synthetic import SyntheticEvaluator
from nao_kfp.evaluators.table import TableEvaluator
from nao_kfp.evaluators.train import TrainEvaluator

# one class a kind of nao_kfp.kinds
REGISTRY: dict[str, type[Evaluator]] = {
    cls.kind.name: cls
    for cls in (
        TrainEvaluator,
        TableEvaluator,
        SyntheticEvaluator,
        SupernetEvaluator,
        ProxyEvaluator,
    )
}


def make_evaluator(cfg: Config, **kwargs: object) -> Evaluator:
    kind = cfg.evaluator.kind
    if kind not in REGISTRY:
        raise ConfigError(
            f"evaluator.kind: unknown evaluator {kind!r} (expected one of: {', '.join(REGISTRY)})"
        )
    return REGISTRY[kind](cfg, **kwargs)


__all__ = [
    "REGISTRY",
    "Evaluator",
    "ProxyEvaluator",
    "SupernetEvaluator",
    "SyntheticEvaluator",
    "TableEvaluator",
    "TrainEvaluator",
    "make_evaluator",
]
