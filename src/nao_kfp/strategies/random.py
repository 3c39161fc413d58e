"""Random search: table rows in a seeded random order, without replacement."""

from __future__ import annotations

from nao_kfp.strategies.base import Strategy, rng_for
from nao_kfp.tabular import TabularEvaluator


class RandomSearch(Strategy):
    name = "random"

    def search(self, ev: TabularEvaluator, seed: int) -> None:
        rows = list(ev.table.rows)
        rng_for(self.name, seed).shuffle(rows)
        for row in rows[: ev.remaining]:
            ev.query(row.arch, source="random")
