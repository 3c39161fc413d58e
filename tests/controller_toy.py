"""Seeded toy pools and tiny controller configs shared by the controller tests."""

from __future__ import annotations

import random
from typing import Any

from nao_kfp.config import ControllerConfig, load_config
from nao_kfp.pool import PoolEntry, entry
from nao_kfp.spaces import get_space

TINY = [
    "controller.embedding_size=8",
    "controller.hidden_size=24",
    "controller.mlp_hidden=24",
    "controller.batch_size=60",
    "controller.lr=0.02",
    "controller.trade_off=0.8",
    "controller.epochs=60",
]


def tiny(*overrides: str) -> ControllerConfig:
    return load_config(None, [*TINY, *overrides]).controller


def toy_pool(space_name: str, n: int, seed: int = 0, **extra: Any) -> list[PoolEntry]:
    """n distinct architectures scored by a fixed random weight per token name, so the target
    is learnable and (being a sum over branches) the same for every symmetric variant."""
    space = get_space(space_name)
    archs = space.sample_unique(n, random.Random(seed))
    weights: dict[str, float] = {}
    wrng = random.Random(1000 + seed)
    out = []
    for a in archs:
        tokens = space.encode(a)
        names = [space.token_name(p, t) for p, t in enumerate(tokens)]
        score = sum(weights.setdefault(name, wrng.uniform(-1.0, 1.0)) for name in names)
        out.append(entry(space, a, accuracy=0.8 + 0.01 * score, **extra))
    return out
