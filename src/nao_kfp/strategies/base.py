"""One interface for every search strategy in tabular benchmark mode.

A strategy is given a fresh evaluator holding the table and the budget; it spends exactly the
budget (a run that ends early or late is a bug and raises). Strategies are anytime: the budget
is only the stopping rule, so the first n queries of a run with budget B are the run with
budget n. The benchmark uses this to read every budget off one run per seed (a test checks it).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from nao_kfp.errors import NaoError
from nao_kfp.tabular import Query, Table, TabularEvaluator


class StrategyError(NaoError):
    """A strategy cannot run with the given table, budget or settings."""


class Strategy(ABC):
    name: str

    @abstractmethod
    def search(self, ev: TabularEvaluator, seed: int) -> None:
        """Query architectures through `ev` until `ev.remaining == 0`."""

    def run(self, table: Table, budget: int, seed: int) -> list[Query]:
        if budget <= 0:
            raise StrategyError(f"budget: expected a positive number of queries, got {budget}")
        if budget > len(table):
            raise StrategyError(
                f"budget: {budget} queries but the table has only {len(table)} architectures"
            )
        ev = TabularEvaluator(table, budget)
        self.search(ev, seed)
        if ev.used != budget:
            raise RuntimeError(f"{self.name}: spent {ev.used} queries of a budget of {budget}")
        return ev.history


def random_fill(ev: TabularEvaluator, rng: random.Random, count: int, source: str) -> None:
    """Query `count` unseen table rows chosen uniformly (without replacement)."""
    rows = ev.unseen_rows()
    for row in rng.sample(rows, min(count, len(rows), ev.remaining)):
        ev.query(row.arch, source=source)


def rng_for(strategy: str, seed: int) -> random.Random:
    """Each strategy gets its own stream per seed, so adding a strategy changes no other."""
    return random.Random(f"{strategy}:{seed}")
