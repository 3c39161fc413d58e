"""The head start a NAO config gives its first round, handed to the baselines too.

A preset may choose some of NAO's initial cells without spending a query: the best of a random
pool by zero-cost proxies (search.proxy_seed) and the priors' best (search.prior_seed). Any
search can take that head start, so a fair benchmark gives it to evolution and random search as
well: `NaoStart.cells` runs NAO's own round-1 step (steps.sample, with priors
steps.sample_with_prior) for the benchmark's table and seed, exactly as the NAO strategy does,
and returns the cells it chose that way. Its random cells are left out: they are random, and
each strategy draws its own. With a config that seeds nothing, the start is empty and the
seeded baselines are the unseeded ones.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from nao_kfp import progress, steps
from nao_kfp.config import Config
from nao_kfp.evaluators import TableEvaluator
from nao_kfp.pool import read_pool
from nao_kfp.spaces import Arch
from nao_kfp.strategies.nao import benchmark_config
from nao_kfp.tabular import Table

# the pool sources of round-1 cells chosen without a query (steps.sample)
FREE_SOURCES = ("prior", "proxy")


class NaoStart:
    """NAO's query-free initial cells per table and seed, computed once and shared by every
    strategy that starts from them."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._cells: dict[tuple[int, int], list[tuple[Arch, str]]] = {}
        self._tables: dict[int, Table] = {}  # keeps each keyed table alive, so its id stays its own

    @property
    def seeds_anything(self) -> bool:
        s = self.cfg.search
        return bool(s.proxy_seed or (s.prior and s.prior_seed))

    def describe(self) -> str:
        """What the start is, for the results' settings."""
        s = self.cfg.search
        parts = []
        if s.prior and s.prior_seed:
            parts.append(f"the priors' best {s.prior_seed} (search.prior_seed)")
        if s.proxy_seed:
            parts.append(
                f"the best {s.proxy_seed} of {s.proxy_pool} random cells by zero-cost proxies "
                "(search.proxy_seed)"
            )
        return "NAO's initial cells: " + " and ".join(parts) if parts else "none"

    def cells(self, table: Table, seed: int) -> list[tuple[Arch, str]]:
        """(architecture, source) of the cells NAO's round 1 chose without a query, in its
        order; [] when the config seeds nothing."""
        if not self.seeds_anything:
            return []
        key = (id(table), seed)
        if key not in self._cells:
            self._tables[id(table)] = table
            self._cells[key] = self._sample(table, seed)
        return self._cells[key]

    def _sample(self, table: Table, seed: int) -> list[tuple[Arch, str]]:
        cfg = benchmark_config(self.cfg, table, self.cfg.search.initial_archs, seed)
        ev = TableEvaluator(cfg, table=table)
        with tempfile.TemporaryDirectory(prefix="nao-start-") as tmp, progress.quiet():
            work = Path(tmp)
            pool, history = work / "pool-0.jsonl", work / "history-0.json"
            if cfg.search.prior:
                steps.sample_with_prior(cfg, pool, history, work / "model-0", evaluator=ev)
            else:
                steps.sample(cfg, pool, history, evaluator=ev)
            return [(e.arch, e.source) for e in read_pool(pool) if e.source in FREE_SOURCES]
