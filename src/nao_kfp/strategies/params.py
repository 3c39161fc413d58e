"""The parameter-count baseline: query the table's biggest networks first.

On many spaces bigger networks train to higher accuracy, so "the most parameters first" is the
baseline a search's gain over a size prior is read against (on NAS-Bench-201 it is a strong
one). The count is the table's `params` column when it has one, else the parameter count of
the config's child network (child.layers, child.channels: the network search.proxy_seed scores)
built on the meta device, counted once per table. Cells of equal size come in a seeded random
order.
"""

from __future__ import annotations

from nao_kfp.config import Config
from nao_kfp.strategies.base import Strategy, rng_for
from nao_kfp.tabular import Table, TabularEvaluator


class ParamCount(Strategy):
    name = "params"

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._counts: dict[int, tuple[Table, dict[str, int]]] = {}

    def counts(self, table: Table) -> dict[str, int]:
        """Each row's parameter count by canonical id (cached per table)."""
        if id(table) not in self._counts:
            self._counts[id(table)] = (table, self._count(table))
        return self._counts[id(table)][1]

    def _count(self, table: Table) -> dict[str, int]:
        if all(r.params is not None for r in table.rows):
            return {r.id: int(r.params or 0) for r in table.rows}
        from nao_kfp.child.params import Budget, search_spec

        sizes = Budget(table.space, search_spec(self.cfg.child))  # no limits: counts only
        return {r.id: sizes.counts(r.arch)[0] for r in table.rows}

    def search(self, ev: TabularEvaluator, seed: int) -> None:
        counts = self.counts(ev.table)
        rows = list(ev.table.rows)
        rng_for(self.name, seed).shuffle(rows)
        rows.sort(key=lambda r: -counts[r.id])  # stable: equal sizes keep the seeded order
        for row in rows[: ev.remaining]:
            ev.query(row.arch, source="params")
