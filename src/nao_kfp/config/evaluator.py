"""evaluator: how an architecture gets its accuracy, with its checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from nao_kfp.config.bounds import _positive
from nao_kfp.errors import ConfigError

EVALUATORS = ("train", "table", "synthetic", "supernet", "proxy")
# Zero-cost proxies (nao_kfp.child.proxies).
PROXIES = ("params", "synflow", "synflow_bn", "naswot")
# the proxies that need a batch of training images (child.data_dir, evaluator.proxy_batch)
DATA_PROXIES = ("synflow_bn", "naswot")


@dataclass(frozen=True)
class EvaluatorConfig:
    """How an architecture gets its accuracy: one seam for every way of evaluating.

    train      train the child network (child.*), with the store's result cache and resume
    table      look it up in a CSV table (arch, valid[, test, seconds]): the tabular benchmark
    synthetic  a seeded smooth function of the tokens, for tests and dry runs (no training)
    supernet   the accuracy with one weight-sharing supernet's weights (NAO-WS, supernet.*)
    proxy      zero-cost proxies of the untrained network (proxies below), no training
    """

    kind: str = "train"
    table: str = ""  # kind table: the CSV file
    # kind table: a decoded architecture missing from the table queries the unseen row nearest
    # to it in tokens (nearest) or is skipped (skip). On a complete table it never happens.
    unavailable: str = "nearest"
    synthetic_seed: int = 0  # kind synthetic: which function
    synthetic_noise: float = 0.0  # kind synthetic: seeded noise (accuracy units)
    # Zero-cost proxies of the untrained child network (params, synflow, synflow_bn, naswot): kind proxy
    # scores by them (default synflow and params); kind supernet combines them with the
    # shared-weight accuracy (none by default). See nao_kfp/child/proxies.py.
    proxies: list[str] = field(default_factory=list)
    proxy_reference: int = 100  # the seeded sample of the space that standardizes each proxy
    proxy_batch: int = 64  # synflow_bn and naswot: this many training images
    rerank_top: int = 1  # kind proxy: retrain the best this many (child recipe), keep the best

    @property
    def scores_proxies(self) -> bool:
        """The search's score includes zero-cost proxies: a score, not an accuracy (the
        progress lines, the report and result.json's metric say so)."""
        return self.kind == "proxy" or bool(self.proxies)


def check_evaluator_kind(ev: EvaluatorConfig) -> None:
    if ev.kind not in EVALUATORS:
        raise ConfigError(
            f"evaluator.kind: unknown evaluator {ev.kind!r} (expected one of: {', '.join(EVALUATORS)})"
        )


def check_evaluator(ev: EvaluatorConfig) -> None:
    """The kind's own settings (after check_evaluator_kind)."""
    if ev.kind == "table" and not ev.table:
        raise ConfigError("evaluator.table: required for evaluator.kind table (a CSV file)")
    if ev.unavailable not in ("nearest", "skip"):
        raise ConfigError(
            f"evaluator.unavailable: expected nearest or skip, got {ev.unavailable!r}"
        )
    _positive("evaluator.synthetic_noise", ev.synthetic_noise, zero_ok=True)
    for i, name in enumerate(ev.proxies):
        if name not in PROXIES:
            raise ConfigError(
                f"evaluator.proxies[{i}]: unknown proxy {name!r} (expected one of: {', '.join(PROXIES)})"
            )
        if name in ev.proxies[:i]:
            raise ConfigError(f"evaluator.proxies[{i}]: {name} is listed twice")
    if ev.proxies and ev.kind not in ("proxy", "supernet"):
        raise ConfigError(
            f"evaluator.proxies: evaluator.kind {ev.kind} does not use proxies (proxy and supernet do)"
        )


def check_proxy_sample(ev: EvaluatorConfig) -> None:
    """The proxies' reference sample and batch, and the rerank (after the space fits kind proxy)."""
    if ev.proxy_reference < 2:
        raise ConfigError(
            f"evaluator.proxy_reference: expected at least 2 reference cells, got {ev.proxy_reference}"
        )
    _positive("evaluator.proxy_batch", ev.proxy_batch)
    _positive("evaluator.rerank_top", ev.rerank_top)
