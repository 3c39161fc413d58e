"""The zero-cost evaluator: architectures scored by proxies of their untrained network.

`evaluator.proxies` names them (params, synflow, synflow_bn, naswot; default synflow and
params, which need no data); a cell's
score is a linear map of its proxies' summed z-scores against a seeded reference sample of the
space (child/proxies.py), so it is absolute, deterministic and comparable across rounds and
shards. Evaluating costs one forward and backward pass of the child network (about 40 ms for
an NB-201 network on one CPU thread), so a whole NAO search runs in minutes without a GPU. The
winner is the best-scored architecture; with evaluator.rerank_top > 1 the best few are
retrained from scratch for child.epochs and the best of them by dev accuracy wins (final.rerank,
as NAO-WS does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp.config import Config
from nao_kfp.config.evaluator import DEFAULT_PROXIES
from nao_kfp.evaluators.base import Evaluator, Log, ok
from nao_kfp.final import rerank_select
from nao_kfp.kinds import KINDS
from nao_kfp.pool import PoolEntry
from nao_kfp.results import RerankEntry
from nao_kfp.spaces import Arch, get_space

if TYPE_CHECKING:
    import torch

    from nao_kfp.child.proxies import ProxyScorer


def make_scorer(
    cfg: Config, data_dir: Path | None = None, names: Sequence[str] | None = None
) -> ProxyScorer:
    """The ProxyScorer of cfg's child network (search_spec), seeded by search.seed, for
    `names` (default: evaluator.proxies, or DEFAULT_PROXIES)."""
    from nao_kfp.child.params import search_spec
    from nao_kfp.child.proxies import ProxyScorer

    names = cfg.evaluator.proxy_names if names is None else tuple(names)
    child = cfg.child
    if data_dir is not None:
        child = dataclasses.replace(child, data_dir=str(data_dir))

    def images() -> torch.Tensor:  # the data proxies' batch: proxy_batch seeded training images
        import torch

        from nao_kfp.child.data import load_split

        data = load_split(child)
        gen = torch.Generator().manual_seed(cfg.search.seed)  # images of every class
        pick = torch.randperm(len(data.train_x), generator=gen)[: cfg.evaluator.proxy_batch]
        return data.train_x[pick].float()

    return ProxyScorer(
        get_space(cfg.search.space), search_spec(child), names, seed=cfg.search.seed,
        reference=cfg.evaluator.proxy_reference, images=images,
    )  # fmt: skip


def proxy_seed(cfg: Config, candidates: Sequence[Arch], k: int) -> list[Arch]:
    """search.proxy_seed: the k best of `candidates` by the data-free proxies (SynFlow and
    parameter count, DEFAULT_PROXIES) of cfg's untrained child network, ranked among
    themselves; the network is initialized with search.seed."""
    from nao_kfp.child.runtime import cpu_threads

    with cpu_threads(cfg.child.cpu_threads or 1):
        return make_scorer(cfg, names=DEFAULT_PROXIES).best(candidates, k)


class ProxyEvaluator(Evaluator):
    kind = KINDS["proxy"]

    def __init__(self, cfg: Config, data_dir: Path | None = None):
        super().__init__(cfg)
        self.data_dir = data_dir

    @cached_property
    def scorer(self) -> ProxyScorer:
        from nao_kfp.child.runtime import cpu_threads

        with cpu_threads(self.cfg.child.cpu_threads or 1):
            return make_scorer(self.cfg, self.data_dir)

    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        from nao_kfp.child.runtime import cpu_threads

        if data_dir is not None:
            self.data_dir = data_dir
        scorer = self.scorer
        with cpu_threads(self.cfg.child.cpu_threads or 1):
            return [ok(e, scorer.score(e.arch), proxies=scorer.zscores(e.arch)) for e in entries]

    def select(
        self, ranked: Sequence[PoolEntry], *, data_dir: Path | None = None, log: Log | None = None
    ) -> tuple[PoolEntry, list[RerankEntry]]:
        return rerank_select(
            self.cfg, ranked, self.cfg.evaluator.rerank_top, self.cfg.child.epochs,
            data_dir=data_dir, log=log, score_key="proxy_score",
        )  # fmt: skip
