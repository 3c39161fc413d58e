"""Search strategies for tabular benchmark mode, registered by name."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nao_kfp.config import Config
from nao_kfp.spaces import Arch
from nao_kfp.strategies.base import Strategy, StrategyError
from nao_kfp.strategies.evolution import EvolutionConfig, RegularizedEvolution
from nao_kfp.strategies.nao import NaoStrategy
from nao_kfp.strategies.random import RandomSearch

STRATEGIES = ("nao", "random", "evolution")


def make_strategy(
    name: str,
    cfg: Config,
    *,
    evolution: EvolutionConfig | None = None,
    log: Callable[[str], None] | None = None,
    prior: Sequence[Arch] = (),
) -> Strategy:
    """`prior`: the priors' best architectures, best first (prior.best): evolution's initial
    population; NAO reads its priors from cfg.search.prior; random search has no use for them."""
    if name == "random":
        return RandomSearch()
    if name == "evolution":
        return RegularizedEvolution(evolution, initial=prior)
    if name == "nao":
        return NaoStrategy(cfg, log=log)
    raise StrategyError(
        f"--strategy: unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}"
    )


__all__ = [
    "STRATEGIES",
    "EvolutionConfig",
    "NaoStrategy",
    "RandomSearch",
    "RegularizedEvolution",
    "Strategy",
    "StrategyError",
    "make_strategy",
]
