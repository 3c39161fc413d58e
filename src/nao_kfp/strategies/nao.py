"""NAO in tabular benchmark mode: the pipeline's own loop (loop.py) with the table evaluator.

Nothing here decides anything about a round: the config (search.*, controller.*,
evaluator.unavailable) and rounds.py do, as in `nao search`. The strategy only sets what a
benchmark run is: the table evaluator over the benchmark's table, the seed, the query budget
(search.max_evaluations) and enough rounds to spend it; then it replays the final pool, in
evaluation order, as the run's queries.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path

from nao_kfp import progress
from nao_kfp.config import Config
from nao_kfp.evaluators import TableEvaluator
from nao_kfp.loop import rounds_for_budget, run_search
from nao_kfp.strategies.base import Strategy, StrategyError
from nao_kfp.tabular import Table, TabularEvaluator


def benchmark_config(cfg: Config, table: Table, budget: int, seed: int) -> Config:
    """The config `nao search` would need to run exactly this benchmark run."""

    search = dataclasses.replace(cfg.search, seed=seed, max_evaluations=budget)
    search = dataclasses.replace(
        search, rounds=rounds_for_budget(cfg.replace(search=search), budget)
    )
    evaluator = dataclasses.replace(cfg.evaluator, kind="table", table=table.source)
    return cfg.replace(search=search, evaluator=evaluator)


class NaoStrategy(Strategy):
    name = "nao"

    def __init__(self, cfg: Config, log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.log = log

    def search(self, ev: TabularEvaluator, seed: int) -> None:

        if self.cfg.search.space != ev.space.name:
            raise StrategyError(
                f"search.space: the config is for {self.cfg.search.space!r} but the table is for {ev.space.name!r}"
            )
        if ev.budget < self.cfg.search.initial_archs:
            raise StrategyError(
                f"budget: {ev.budget} queries is below search.initial_archs ({self.cfg.search.initial_archs})"
            )
        cfg = benchmark_config(self.cfg, ev.table, ev.budget, seed)
        with tempfile.TemporaryDirectory(prefix="nao-bench-") as tmp, progress.quiet():
            pool = run_search(cfg, Path(tmp), evaluator=TableEvaluator(cfg, table=ev.table))
        for e in pool:
            if e.status == "ok":
                ev.query(e.arch, source=e.source)
