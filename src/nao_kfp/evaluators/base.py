"""The evaluator seam: what the search loop asks of whatever scores architectures."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar, cast

from nao_kfp.config import Config
from nao_kfp.jsontypes import JSONObject
from nao_kfp.kinds import EvaluatorKind
from nao_kfp.pool import PoolEntry
from nao_kfp.results import RerankEntry
from nao_kfp.spaces import Arch, SearchSpace, get_space

Log = Callable[[str], None]
Accept = Callable[[Arch], bool]


class Evaluator(ABC):
    """Scores architectures of one space for one config.

    `sample` and `substitute` let an evaluator that can only score some architectures (a table
    of a sample of the space) keep the loop on architectures it can score; for the others every
    architecture of the space is fine.
    """

    kind: ClassVar[EvaluatorKind]  # its declaration (nao_kfp.kinds)

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.space: SearchSpace[Arch] = get_space(cfg.search.space)

    def prepare(self, out_dir: Path) -> dict[str, str]:
        """Stage what evaluation reads under out_dir, once per search: the data set, for a kind
        that reads it (EvaluatorKind.reads_data), so that no task downloads it."""
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        if not self.kind.reads_data(self.cfg):
            return {}
        from nao_kfp.child.data import prepare_data

        return {"data_dir": str(prepare_data(self.cfg.child, Path(out_dir)))}

    def sample(
        self, count: int, rng: random.Random, exclude: set[str], accept: Accept | None = None
    ) -> list[Arch]:
        """Up to `count` distinct architectures it can score, none with an id in `exclude`,
        all accepted by `accept` (the search's budget) when given."""
        return self.space.sample_unique(count, rng, exclude=exclude, accept=accept)

    def budget(self) -> Accept | None:
        """Which architectures the search may evaluate at all (search.max_params /
        search.max_macs), None without a budget: here the child network's own counts."""
        s = self.cfg.search
        if not s.max_params and not s.max_macs:
            return None
        from nao_kfp.child.params import within_budget

        return within_budget(self.cfg)

    def substitute(self, arch: Arch, exclude: set[str], rng: random.Random) -> Arch | None:
        """The architecture to evaluate in place of a proposed one: itself when it can be
        scored, else a stand-in (or None); never one with an id in `exclude`."""
        return arch

    def select(
        self, ranked: Sequence[PoolEntry], *, data_dir: Path | None = None, log: Log | None = None
    ) -> tuple[PoolEntry, list[RerankEntry]]:
        """The search's winner among its evaluated entries (`ranked`: best accuracy first, all
        within the budget), and the records of how it was chosen (empty: by accuracy alone)."""
        return ranked[0], []

    @abstractmethod
    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        """The entries, each now ok (with an accuracy) or failed (with an error)."""


# What an evaluator adds to an entry (a child's result, proxies, the supernet's epoch) enters
# the pool here and only here; it is JSON (the pool file is written with json.dumps, which
# fails loudly on anything else), so it is typed as such from here on.


def ok(e: PoolEntry, accuracy: float, **extra: object) -> PoolEntry:
    e.status, e.accuracy, e.error = "ok", float(accuracy), None
    e.extra.update(cast(JSONObject, extra))
    return e


def failed(e: PoolEntry, error: str, **extra: object) -> PoolEntry:
    e.status, e.accuracy, e.error = "failed", None, error
    e.extra.update(cast(JSONObject, extra))
    return e
