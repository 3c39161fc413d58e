"""evaluator: how an architecture gets its accuracy, with its checks."""

from __future__ import annotations

from dataclasses import dataclass

from nao_kfp.config.bounds import MAX_PROXY_NETS, MAX_SEED, PROXY_WHY
from nao_kfp.config.keys import key
from nao_kfp.errors import ConfigError
from nao_kfp.kinds import KINDS

EVALUATORS = tuple(KINDS)
# Zero-cost proxies (nao_kfp.child.proxies).
PROXIES = ("params", "synflow", "synflow_bn", "naswot")
# the proxies that need a batch of training images (child.data_dir, evaluator.proxy_batch)
DATA_PROXIES = ("synflow_bn", "naswot")
# what the proxy evaluator scores by when evaluator.proxies is empty (no data needed)
DEFAULT_PROXIES = ("synflow", "params")
# Architectures retrained from scratch to choose the winner.
MAX_RERANK = 1000
RERANK_WHY = "each is a child network trained from scratch"


def _kinds_doc() -> str:
    said = [f"{k.name} ({k.doc})" for k in KINDS.values()]
    return f"How an architecture gets its accuracy: {', '.join(said[:-1])} or {said[-1]}."


@dataclass(frozen=True)
class EvaluatorConfig:
    """How an architecture gets its accuracy: one seam for every way of evaluating, its kinds
    declared in nao_kfp.kinds (train, table, synthetic, supernet, proxy)."""

    kind: str = key("train", _kinds_doc(), choices=EVALUATORS)
    table: str = key("", "kind table: the CSV file (arch, valid[, test, seconds]).")
    unavailable: str = key(
        "nearest",
        "kind table: a decoded architecture missing from the table "
        "is evaluated as the unseen row nearest to it in tokens (nearest) or "
        "skipped (skip). On a complete table it never happens.",
        choices=("nearest", "skip"),
    )
    synthetic_seed: int = key(
        0, "kind synthetic: which function.", min=0, max=MAX_SEED, why="numpy's seed range"
    )
    synthetic_noise: float = key(0.0, "kind synthetic: seeded noise (accuracy units).", min=0.0)
    proxies: list[str] = key(
        doc="Zero-cost proxies of the untrained child network: kind proxy "
        "scores by them (synflow and params when empty); kind supernet "
        "combines them with the shared-weight accuracy (none when empty).",
        factory=list,
        choices=PROXIES,
        max=len(PROXIES),
        why="each proxy once",
    )
    proxy_reference: int = key(
        100,
        "The seeded sample of the space that standardizes each proxy.",
        min=2,
        max=MAX_PROXY_NETS,
        why=PROXY_WHY,
    )
    proxy_batch: int = key(
        64,
        "synflow_bn and naswot: this many training images.",
        min=1,
        max=4096,
        why="the batch goes through every scored network at once",
    )
    rerank_top: int = key(
        1,
        "kind proxy: retrain the best this many (the child recipe), keep the best.",
        min=1,
        max=MAX_RERANK,
        why=RERANK_WHY,
    )

    @property
    def scores_proxies(self) -> bool:
        """The search's score includes zero-cost proxies: a score, not an accuracy (the
        progress lines, the report and result.json's metric say so)."""
        return KINDS[self.kind].scores_proxies or bool(self.proxies)

    @property
    def proxy_names(self) -> tuple[str, ...]:
        """The proxies that score: evaluator.proxies, else DEFAULT_PROXIES."""
        return tuple(self.proxies) or DEFAULT_PROXIES

    @property
    def reads_images(self) -> bool:
        """A proxy that scores needs a batch of training images."""
        return bool(set(self.proxy_names) & set(DATA_PROXIES))


def check_evaluator(ev: EvaluatorConfig) -> None:
    """The kind's own settings."""
    kind = KINDS[ev.kind]
    if kind.reads_table and not ev.table:
        raise ConfigError(f"evaluator.table: required for evaluator.kind {ev.kind} (a CSV file)")
    for i, name in enumerate(ev.proxies):
        if name in ev.proxies[:i]:
            raise ConfigError(f"evaluator.proxies[{i}]: {name} is listed twice")
    if ev.proxies and not kind.uses_proxies:
        users = " and ".join(k.name for k in KINDS.values() if k.uses_proxies)
        raise ConfigError(
            f"evaluator.proxies: evaluator.kind {ev.kind} does not use proxies ({users} do)"
        )
