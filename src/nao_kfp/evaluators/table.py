"""The table evaluator: an architecture's accuracy is its row of a CSV table (tabular.py).

`valid` (percent in the table) becomes the pool's accuracy (a fraction); the row's `valid`,
`test`, `seconds` (and `params`, when the table has that column) are recorded as they are in the
entry's extras, so a benchmark reports exactly the table's numbers. Evaluating is a query: the
pool is the query log, and `search.max_evaluations` is the budget.

A table may hold only a sample of the space. Sampling draws table rows; a proposed architecture
missing from the table is replaced by the unseen row nearest to it in tokens (Hamming
distance, ties broken by the loop's seeded RNG), or skipped with `evaluator.unavailable: skip`.
On a complete table neither happens.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp.config import Config
from nao_kfp.errors import ConfigError
from nao_kfp.evaluators.base import Accept, Evaluator, Log, failed, ok
from nao_kfp.kinds import KINDS
from nao_kfp.pool import PoolEntry
from nao_kfp.spaces import Arch
from nao_kfp.tabular import Table, read_table

if TYPE_CHECKING:
    import torch


class TableEvaluator(Evaluator):
    kind = KINDS["table"]

    def __init__(self, cfg: Config, table: Table | None = None):
        super().__init__(cfg)
        if table is None:
            table = read_table(cfg.evaluator.table, self.space)
        if table.space.name != self.space.name:
            raise ConfigError(
                f"search.space: the config is for {self.space.name!r} but the table is for {table.space.name!r}"
            )
        self.table = table
        if cfg.search.max_macs:
            raise ConfigError("search.max_macs: a table has no multiply-add counts; use max_params")
        if cfg.search.max_params and any(r.params is None for r in table.rows):
            raise ConfigError(
                f"search.max_params: the table {table.source} needs a params column for every row"
            )

    def budget(self) -> Accept | None:
        """search.max_params against the table's params column."""
        limit = self.cfg.search.max_params
        if not limit:
            return None

        def accept(arch: Arch) -> bool:
            row = self.table.get(arch)
            return row is not None and row.params is not None and row.params <= limit

        return accept

    @cached_property
    def _tokens(self) -> torch.Tensor:
        import torch

        return torch.tensor([self.space.encode(r.arch) for r in self.table.rows], dtype=torch.long)

    def sample(
        self, count: int, rng: random.Random, exclude: set[str], accept: Accept | None = None
    ) -> list[Arch]:
        rows = [r for r in self.table.rows if r.id not in exclude]
        if accept is not None:
            rows = [r for r in rows if accept(r.arch)]
        return [r.arch for r in rng.sample(rows, min(count, len(rows)))]

    def substitute(self, arch: Arch, exclude: set[str], rng: random.Random) -> Arch | None:
        if self.table.get(arch) is not None:
            return arch
        if self.cfg.evaluator.unavailable != "nearest":
            return None
        import torch

        rows = self.table.rows
        unseen = torch.tensor([r.id not in exclude for r in rows], dtype=torch.bool)
        if not bool(unseen.any()):
            return None
        tokens = self._tokens
        dist = (tokens != torch.tensor(self.space.encode(arch))).sum(dim=1)
        dist = dist.masked_fill(~unseen, tokens.size(1) + 1)
        ties = torch.nonzero(dist == dist.min()).flatten().tolist()
        return rows[ties[rng.randrange(len(ties))] if len(ties) > 1 else ties[0]].arch

    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        out = []
        for e in entries:
            row = self.table.get_id(e.id)
            if row is None:
                out.append(failed(e, f"not in the table {self.table.source}"))
                continue
            sizes = {} if row.params is None else {"params": row.params}
            out.append(
                ok(e, row.valid / 100.0, valid=row.valid, test=row.test, seconds=row.seconds,
                   **sizes)
            )  # fmt: skip
        return out
