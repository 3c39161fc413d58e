"""Random search: table rows in a seeded random order, without replacement; with a start
(strategies/start.py), NAO's query-free initial cells come first."""

from __future__ import annotations

from nao_kfp.strategies.base import Strategy, rng_for
from nao_kfp.strategies.start import NaoStart
from nao_kfp.tabular import TabularEvaluator


class RandomSearch(Strategy):
    """`start`: query NAO's query-free initial cells for the seed first (none: `random-unseeded`);
    the random order is the same either way."""

    def __init__(self, start: NaoStart | None = None, name: str = "random"):
        self.start, self.name = start, name

    def search(self, ev: TabularEvaluator, seed: int) -> None:
        for arch, source in self.start.cells(ev.table, seed) if self.start else ():
            if ev.remaining > 0 and ev.is_new(arch):
                ev.query(arch, source=source)
        rows = list(ev.table.rows)
        rng_for("random", seed).shuffle(rows)
        for row in rows:
            if ev.remaining <= 0:
                break
            if ev.is_new(row.arch):
                ev.query(row.arch, source="random")
