"""Regularized evolution (Real et al., 2019) on a table.

Start from `population` table rows: NAO's query-free initial cells when given one (`start`,
strategies/start.py: the same head start NAO's config takes), then random ones; then, until the budget is spent, pick `tournament`
members of the population at random, mutate the best of them (by `valid`) through the space
protocol (`space.mutate`: one op or one input changes), query the child, add it to the
population and remove the oldest member (age, not fitness, decides who leaves).

Tables may hold only a sample of the space, and a repeat would cost nothing and so never end
the loop; therefore a child must be in the table and new. Up to `mutation_tries` one-step
mutations are drawn; if none qualifies, two-step mutations, and so on up to `max_steps`; if
still none qualifies (the parent's neighbourhood is used up), a random unseen row is taken.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

from nao_kfp.spaces import Arch
from nao_kfp.strategies.base import Strategy, StrategyError, random_fill, rng_for
from nao_kfp.strategies.start import NaoStart
from nao_kfp.tabular import Query, TabularEvaluator


@dataclass(frozen=True)
class EvolutionConfig:
    population: int = 20
    tournament: int = 5  # members sampled per step; the best becomes the parent
    mutation_tries: int = 50  # draws per mutation distance before trying a larger one
    max_steps: int = 3  # largest number of chained one-step mutations


class RegularizedEvolution(Strategy):
    """`start`: the initial population begins with NAO's query-free initial cells for the
    run's seed (none: all random, `evolution-unseeded`). Both variants draw from one random
    stream per seed, so they differ only by the start."""

    def __init__(
        self,
        cfg: EvolutionConfig | None = None,
        start: NaoStart | None = None,
        name: str = "evolution",
    ):
        self.cfg = cfg or EvolutionConfig()
        self.start, self.name = start, name
        if self.cfg.population < 1 or not 1 <= self.cfg.tournament <= self.cfg.population:
            raise StrategyError(
                f"evolution.tournament: expected 1..population ({self.cfg.population}), "
                f"got {self.cfg.tournament}"
            )

    def search(self, ev: TabularEvaluator, seed: int) -> None:
        rng = rng_for("evolution", seed)
        for arch, source in self.start.cells(ev.table, seed) if self.start else ():
            if ev.used >= min(self.cfg.population, ev.budget):
                break
            if ev.is_new(arch):
                ev.query(arch, source=source)
        random_fill(ev, rng, self.cfg.population - ev.used, source="initial")
        population: deque[Query] = deque(ev.history)
        while ev.remaining > 0:
            contestants = rng.sample(list(population), min(self.cfg.tournament, len(population)))
            parent = max(contestants, key=lambda q: q.valid)
            child = self.mutate_into_table(ev, ev.space.parse(parent.arch), rng)
            if child is None:
                before = ev.used
                random_fill(ev, rng, 1, source="random-fill")
                population.append(ev.history[before])
            else:
                population.append(ev.query(child, source="mutation"))
            if len(population) > self.cfg.population:
                population.popleft()

    def mutate_into_table(
        self, ev: TabularEvaluator, parent: Arch, rng: random.Random
    ) -> Arch | None:
        for steps in range(1, self.cfg.max_steps + 1):
            for _ in range(self.cfg.mutation_tries):
                child = parent
                for _ in range(steps):
                    child = ev.space.mutate(child, rng)
                if ev.is_new(child):
                    return child
        return None
