"""NAO (Algorithm 1) on a table, with the controller in-process.

The budget is spent as: `search.initial_archs` random table rows, then rounds of
train the controller on every queried architecture (`nao_kfp.controller.fit`, warm-started from
the previous round's model) -> move the embeddings of the `search.top_k` best architectures
along the predictor's gradient and decode (`propose`, step `search.eta`, grown by
`search.eta_growth` up to `search.eta_max` while the decoded architecture is already known) ->
query up to `search.new_archs` new architectures. The query budget is the stopping rule
(`search.rounds` is not used here), so a run is anytime.

A table may hold only a sample of the space, so a decoded architecture may be missing from it.
With `unavailable: nearest` (the default) the strategy queries the unseen table row closest to
it in tokens (Hamming distance; ties broken by the strategy's seeded RNG, never by the
predictor), the table's stand-in for the decoded point, as evolution's mutations are kept to
table rows; on a complete table this never happens. With `unavailable: skip` the decoded
architecture is only added to the known set and decoding is repeated, so the seed's step size
grows past it. Either way at most `decode_attempts` propose() calls are made per round; if a
round still finds nothing new, it queries random unseen rows instead (source "random-fill"),
so the budget is spent exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from nao_kfp.config import Config
from nao_kfp.pool import PoolEntry, entry
from nao_kfp.strategies.base import Strategy, StrategyError, random_fill, rng_for
from nao_kfp.tabular import Row, Table, TabularEvaluator


@dataclass(frozen=True)
class NaoOptions:
    decode_attempts: int = 20  # propose() calls per round while decoded archs are unavailable
    warm_start: bool = True  # start each round's controller from the previous round's
    # Epochs of a warm-started round's fit (0: controller.epochs). A warm start already encodes,
    # ranks and decodes the earlier pool, so a short fit only has to absorb the last round's
    # few new archs; the full controller.epochs are spent once, on the initial sample.
    warm_epochs: int = 10
    unavailable: str = "nearest"  # nearest | skip: what a decoded arch missing from the table does


class NaoStrategy(Strategy):
    name = "nao"

    def __init__(self, cfg: Config, options: NaoOptions | None = None, log: Any = None):
        self.cfg = cfg
        self.options = options or NaoOptions()
        self.log = log
        self._tokens: tuple[Table, Any] | None = None  # the table's rows as tokens
        if self.options.warm_epochs < 0:
            raise StrategyError(
                f"nao.warm_epochs: expected 0 or a positive number, got {self.options.warm_epochs}"
            )
        if self.options.unavailable not in ("nearest", "skip"):
            raise StrategyError(
                f"nao.unavailable: expected nearest or skip, got {self.options.unavailable!r}"
            )
        if self.options.decode_attempts < 1:
            raise StrategyError(
                f"nao.decode_attempts: expected a positive number, got {self.options.decode_attempts}"
            )

    def search(self, ev: TabularEvaluator, seed: int) -> None:
        s = self.cfg.search
        if s.space != ev.space.name:
            raise StrategyError(
                f"search.space: the config is for {s.space!r} but the table is for {ev.space.name!r}"
            )
        from nao_kfp.controller import fit  # torch is imported only when NAO runs

        rng = rng_for(self.name, seed)
        random_fill(ev, rng, min(s.initial_archs, ev.remaining), source="initial")
        model = None
        unavailable: set[str] = set()
        round_index = 0
        while ev.remaining > 0:
            round_index += 1
            pool = self.pool(ev)
            ctrl = self.cfg.controller
            if model is not None and self.options.warm_start and self.options.warm_epochs > 0:
                ctrl = replace(ctrl, epochs=self.options.warm_epochs)
            model, _metrics = fit(
                ev.space,
                pool,
                ctrl,
                seed=seed * 1000 + round_index,
                init=model if self.options.warm_start else None,
            )
            want = min(s.new_archs, ev.remaining)
            got = self.query_decoded(model, pool, ev, want, unavailable, round_index, rng)
            if got == 0:
                random_fill(ev, rng, want, source="random-fill")

    def nearest_unseen(self, ev: TabularEvaluator, arch: Any, rng: random.Random) -> Row | None:
        """The unseen table row nearest to `arch` in tokens (None: option skip, or none left)."""
        if self.options.unavailable != "nearest":
            return None
        import torch

        table = ev.table
        if self._tokens is None or self._tokens[0] is not table:
            rows = torch.tensor([ev.space.encode(r.arch) for r in table.rows], dtype=torch.long)
            self._tokens = (table, rows)
        tokens = self._tokens[1]
        seen = ev.seen_ids
        unseen = torch.tensor([r.id not in seen for r in table.rows], dtype=torch.bool)
        if not bool(unseen.any()):
            return None
        dist = (tokens != torch.tensor(ev.space.encode(arch))).sum(dim=1)
        dist = dist.masked_fill(~unseen, tokens.size(1) + 1)
        ties = torch.nonzero(dist == dist.min()).flatten().tolist()
        return table.rows[ties[rng.randrange(len(ties))] if len(ties) > 1 else ties[0]]

    @staticmethod
    def pool(ev: TabularEvaluator) -> list[PoolEntry]:
        # pool files hold accuracy as a fraction; the table answers in percent
        return [
            entry(ev.space, ev.space.parse(q.arch), accuracy=q.valid / 100.0, source=q.source)
            for q in ev.history
        ]

    def query_decoded(
        self,
        model: Any,
        pool: list[PoolEntry],
        ev: TabularEvaluator,
        want: int,
        unavailable: set[str],
        round_index: int,
        rng: random.Random,
    ) -> int:
        from nao_kfp.controller import propose

        s = self.cfg.search
        got = 0
        for _attempt in range(self.options.decode_attempts):
            proposed = propose(
                model,
                pool,
                top_k=min(s.top_k, len(pool)),
                count=want - got,
                eta=s.eta,
                eta_growth=s.eta_growth,
                eta_max=s.eta_max,
                known_ids=ev.seen_ids | unavailable,
            )
            if not proposed:
                break
            for e in proposed:
                if got == want:
                    break
                if ev.is_new(e.arch):
                    ev.query(e.arch, source=f"nao-round-{round_index}")
                    got += 1
                elif not ev.available(e.arch):
                    unavailable.add(e.id)
                    near = self.nearest_unseen(ev, e.arch, rng)
                    if near is not None:
                        ev.query(near.arch, source=f"nao-round-{round_index}-nearest")
                        got += 1
            if got == want:
                break
        return got
