"""Search strategies for tabular benchmark mode, registered by name.

evolution and random start from the cells NAO's config picks without a query (search.proxy_seed,
the priors' best: strategies/start.py), so that every strategy gets the same head start;
evolution-unseeded and random-unseeded start from nothing; params queries the biggest networks
first.
"""

from __future__ import annotations

from collections.abc import Callable

from nao_kfp.config import Config
from nao_kfp.strategies.base import Strategy, StrategyError
from nao_kfp.strategies.evolution import EvolutionConfig, RegularizedEvolution
from nao_kfp.strategies.nao import NaoStrategy
from nao_kfp.strategies.params import ParamCount
from nao_kfp.strategies.random import RandomSearch
from nao_kfp.strategies.start import NaoStart

STRATEGIES = ("nao", "evolution", "random", "evolution-unseeded", "random-unseeded", "params")
UNSEEDED = ("evolution-unseeded", "random-unseeded")


def default_strategies(start: NaoStart) -> list[str]:
    """Every strategy; the unseeded variants only when the config seeds NAO's first cells
    (otherwise they would repeat the seeded ones)."""
    return [n for n in STRATEGIES if start.seeds_anything or n not in UNSEEDED]


def make_strategy(
    name: str,
    cfg: Config,
    *,
    evolution: EvolutionConfig | None = None,
    log: Callable[[str], None] | None = None,
    start: NaoStart | None = None,
) -> Strategy:
    """`start`: NAO's query-free initial cells for the seeded baselines, shared so that they
    are computed once per table and seed (default: a new one for cfg)."""
    if name in ("evolution", "random"):
        start = start or NaoStart(cfg)
    elif name in UNSEEDED:
        start = None
    if name.startswith("evolution") and name in STRATEGIES:
        return RegularizedEvolution(evolution, start=start, name=name)
    if name.startswith("random") and name in STRATEGIES:
        return RandomSearch(start, name=name)
    if name == "params":
        return ParamCount(cfg)
    if name == "nao":
        return NaoStrategy(cfg, log=log)
    raise StrategyError(
        f"--strategy: unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}"
    )


__all__ = [
    "STRATEGIES",
    "UNSEEDED",
    "EvolutionConfig",
    "NaoStart",
    "NaoStrategy",
    "ParamCount",
    "RandomSearch",
    "RegularizedEvolution",
    "Strategy",
    "StrategyError",
    "default_strategies",
    "make_strategy",
]
