"""The whole config: the top-level name and one field per section (checked in checks.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from nao_kfp import validate
from nao_kfp.config.checks import check
from nao_kfp.config.child import ChildConfig
from nao_kfp.config.cluster import ClusterConfig
from nao_kfp.config.controller import ControllerConfig
from nao_kfp.config.evaluator import EvaluatorConfig
from nao_kfp.config.final import FinalConfig
from nao_kfp.config.keys import KeyDoc, describe, key
from nao_kfp.config.search import MAX_ROUNDS, SearchConfig
from nao_kfp.config.supernet import SupernetConfig
from nao_kfp.errors import ConfigError
from nao_kfp.kinds import KINDS


@dataclass(frozen=True)
class Config:
    name: str = key(
        "nao",
        "The search's name: it names the default run folder (runs/<name>-<time>) and the KFP run.",
    )
    search: SearchConfig = key(doc="Algorithm 1's sizes.", factory=SearchConfig)
    evaluator: EvaluatorConfig = key(doc="How an architecture is scored.", factory=EvaluatorConfig)
    controller: ControllerConfig = key(
        doc="The encoder, predictor and decoder.", factory=ControllerConfig
    )
    child: ChildConfig = key(doc="The child networks.", factory=ChildConfig)
    final: FinalConfig = key(doc="The final training.", factory=FinalConfig)
    supernet: SupernetConfig = key(doc="Weight sharing (NAO-WS).", factory=SupernetConfig)
    cluster: ClusterConfig = key(doc="Kubeflow.", factory=ClusterConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        cfg = validate.config(cls, data, ConfigError)
        search = data.get("search")
        if "rounds" not in (search if isinstance(search, dict) else {}):
            cfg = _with_derived_rounds(cfg)
        check(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)

    def digest(self, *sections: str) -> str:
        """Stable short hash of the named sections (all when none), for cache keys."""
        d = self.to_dict()
        part = {s: d[s] for s in sections} if sections else d
        blob = json.dumps(part, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _with_derived_rounds(cfg: Config) -> Config:
    """NAO-WS's rounds follow its supernet schedule: one round per scoring point (supernet.epochs
    / supernet.rounds_every), unless the config sets search.rounds (then checks.py compares)."""
    points = len(cfg.supernet.schedule())
    if not KINDS[cfg.evaluator.kind].shares_weights or points > MAX_ROUNDS:
        return cfg  # (too many rounds: checks.py says so in supernet.* terms)
    return cfg.replace(search=dataclasses.replace(cfg.search, rounds=points))


def describe_keys(root: type | None = None) -> list[KeyDoc]:
    """Every key of the config (or of the section class `root`), in the order `nao config
    show` prints them."""
    return list(describe(root or Config))
