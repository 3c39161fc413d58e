"""The round policy: everything a round of Algorithm 1 decides, in one place.

The pipeline's steps (steps.py) and the tabular benchmark (which drives the same steps
in-process, loop.py) both get these decisions from here, so the benchmark measures the
algorithm the pipeline runs:

    seed_for          the per-step seeds (stable across runs and platforms)
    fit_settings      which epochs a fit gets: controller.epochs cold, search.warm_epochs warm
    needs_fit         whether a round's fit has anything new to learn from
    top_k             how many seeds the embedding optimization starts from
    wanted            how many new architectures a round may propose (search.new_archs, capped
                      by what is left of search.max_evaluations)
    should_stop       early stop (search.early_stop): the last round brought no improvement
    (the budget, search.max_params / max_macs, is the evaluator's: Evaluator.budget)
    propose           decode new architectures, keep the ones the evaluator can score (or its
                      stand-ins for them), retry past duplicates, fill the rest at random
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections.abc import Sequence
from typing import Any

from nao_kfp.config import Config, ControllerConfig
from nao_kfp.evaluators import Evaluator
from nao_kfp.pool import PoolEntry, entry, evaluated
from nao_kfp.records import RoundRecord


def seed_for(seed: int, what: str, round_index: int = 0) -> int:
    """A per-step seed: stable across runs and platforms (unlike hash())."""
    digest = hashlib.sha256(f"{seed}:{what}:{round_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def rng_for(cfg: Config, what: str, round_index: int = 0) -> random.Random:
    return random.Random(seed_for(cfg.search.seed, what, round_index))


def fit_settings(cfg: Config, *, warm: bool) -> ControllerConfig:
    if warm and cfg.search.warm_epochs > 0:
        return dataclasses.replace(cfg.controller, epochs=cfg.search.warm_epochs)
    return cfg.controller


def needs_fit(pool: Sequence[PoolEntry], round_index: int, *, warm: bool) -> bool:
    """A warm-started fit with no architecture evaluated in this round (the search stopped
    early, or the budget is spent) would only drift: keep the previous model instead."""
    return not warm or any(e.round == round_index for e in evaluated(pool))


def top_k(cfg: Config, pool: Sequence[PoolEntry]) -> int:
    return max(1, min(cfg.search.top_k, len(evaluated(pool))))


def wanted(cfg: Config, pool: Sequence[PoolEntry]) -> int:
    """New architectures the next round may evaluate."""
    want = cfg.search.new_archs
    if cfg.search.max_evaluations:  # every entry has spent (or will spend) an evaluation
        want = min(want, max(0, cfg.search.max_evaluations - len(pool)))
    return want


def should_stop(cfg: Config, history: Sequence[RoundRecord]) -> bool:
    return cfg.search.early_stop and bool(history) and not history[-1].improved


def propose(
    cfg: Config,
    model: Any,
    emb: Any,
    pool: Sequence[PoolEntry],
    evaluator: Evaluator,
    round_index: int,
) -> list[PoolEntry]:
    """Up to wanted(cfg, pool) new pending entries for round `round_index + 1`, none already
    in the pool. Decoded architectures the evaluator cannot score are replaced by its stand-in
    (source `nao-nearest`) or skipped; each of search.decode_attempts decodes starts again from
    search.eta with everything found so far known. A shortfall is filled with random
    architectures (search.fill: random, source `random-fill`)."""
    from nao_kfp.controller import decode_new

    s = cfg.search
    space = evaluator.space
    want = wanted(cfg, pool)
    known = {e.id for e in pool}
    rng = rng_for(cfg, "propose", round_index)
    new: list[PoolEntry] = []
    skipped: set[str] = set()
    accept = evaluator.budget()
    for _attempt in range(s.decode_attempts):
        if len(new) >= want:
            break
        decoded = decode_new(
            model, emb, count=want - len(new), eta=s.eta, eta_growth=s.eta_growth,
            eta_max=s.eta_max, known_ids=known | skipped, accept=accept,
        )  # fmt: skip
        if not decoded:
            break
        for e in decoded:
            if len(new) >= want:
                break
            arch = evaluator.substitute(e.arch, known, rng)
            if arch is not None and accept is not None and not accept(arch):
                arch = None
            # a stand-in chosen for an earlier proposal of this batch is known by now
            if arch is None or space.canonical_id(arch) in known:
                skipped.add(e.id)
                continue
            if space.canonical_id(arch) != e.id:  # a stand-in: the evaluator's nearest
                skipped.add(e.id)
                (pred,) = model.predict([arch])
                e = dataclasses.replace(
                    e, arch=arch, source="nao-nearest", predicted=pred, extra=dict(e.extra)
                )
            known.add(e.id)
            new.append(e)
    if len(new) < want and s.fill == "random":
        for arch in evaluator.sample(want - len(new), rng, known, accept):
            new.append(entry(space, arch, source="random-fill"))
            known.add(space.canonical_id(arch))
    for e in new:
        e.round = round_index + 1
    return new
