"""The round policy: everything a round of Algorithm 1 decides, in one place.

The pipeline's steps (steps.py) and the tabular benchmark (which drives the same steps
in-process, loop.py) both get these decisions from here, so the benchmark measures the
algorithm the pipeline runs:

    seed_for          the per-step seeds (stable across runs and platforms)
    fit_settings      which epochs a fit gets: controller.epochs cold, search.warm_epochs warm
                      (SemiNAS: controller.pseudo_*, search.warm_pseudo_*)
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
from typing import TYPE_CHECKING

from nao_kfp.config import MAX_BEAM, Config, ControllerConfig
from nao_kfp.evaluators import Evaluator
from nao_kfp.evaluators.base import Accept
from nao_kfp.pool import PoolEntry, entry, evaluated
from nao_kfp.records import RoundRecord

if TYPE_CHECKING:
    from nao_kfp.controller import Embeddings, NAOModel


def seed_for(seed: int, what: str, round_index: int = 0) -> int:
    """A per-step seed: stable across runs and platforms (unlike hash())."""
    digest = hashlib.sha256(f"{seed}:{what}:{round_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def rng_for(cfg: Config, what: str, round_index: int = 0) -> random.Random:
    return random.Random(seed_for(cfg.search.seed, what, round_index))


def fit_settings(cfg: Config, *, warm: bool) -> ControllerConfig:
    if not warm:
        return cfg.controller
    c = dataclasses.replace(
        cfg.controller,
        pseudo_labels=cfg.search.warm_pseudo_labels,
        pseudo_epochs=cfg.search.warm_pseudo_epochs,
        predictor_only=cfg.controller.predictor_only or cfg.search.warm_predictor_only,
    )
    if cfg.search.warm_epochs > 0:
        c = dataclasses.replace(c, epochs=cfg.search.warm_epochs)
    return c


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
    model: NAOModel,
    emb: Embeddings,
    pool: Sequence[PoolEntry],
    evaluator: Evaluator,
    round_index: int,
) -> list[PoolEntry]:
    """Up to wanted(cfg, pool) new pending entries for round `round_index + 1`, none already
    in the pool.

    search.select first (the paper): decode at search.eta, growing eta until enough are new.
    Decoded architectures the evaluator cannot score are replaced by its stand-in (source
    `nao-nearest`) or skipped; each of search.decode_attempts decodes starts again from
    search.eta with everything found so far known. search.select predicted: the candidates of
    every seed at every step size, ranked by the predictor (ranked), the best first; a
    shortfall goes to the first-found decoding. search.random_share of search.new_archs are
    random architectures (source `explore`), after the decoded ones. A shortfall is filled
    with random architectures (search.fill: random, source `random-fill`)."""
    s = cfg.search
    space = evaluator.space
    want = wanted(cfg, pool)
    known = {e.id for e in pool}
    rng = rng_for(cfg, "propose", round_index)
    accept = evaluator.budget()
    # drawn per slot of a full round, so a round cut short by the budget is a prefix of it
    explore = (
        sum(rng.random() < s.random_share for _ in range(s.new_archs)) if s.random_share else 0
    )
    n_model = min(want, s.new_archs - explore)
    new: list[PoolEntry] = []
    if s.select == "predicted" and n_model:
        new = ranked(cfg, model, emb, known, evaluator, rng)[:n_model]
        known |= {e.id for e in new}
    new += _decode_first(cfg, model, emb, known, evaluator, rng, n_model - len(new))

    def add_random(count: int, source: str) -> None:
        if count > 0:
            for arch in evaluator.sample(count, rng, known, accept):
                new.append(entry(space, arch, source=source))
                known.add(space.canonical_id(arch))

    add_random(min(explore, want - len(new)), "explore")
    if s.fill == "random":
        add_random(want - len(new), "random-fill")
    for e in new:
        e.round = round_index + 1
    return new


def ranked(
    cfg: Config,
    model: NAOModel,
    emb: Embeddings,
    known: set[str],
    evaluator: Evaluator,
    rng: random.Random,
) -> list[PoolEntry]:
    """search.select predicted: every seed decoded at every step size of eta's ladder; the
    distinct candidates the evaluator can score (or their stand-ins), none in `known`, and
    search.mutations one-step mutations of each seed, best first by the predictor
    (search.explore adds the spread of the ensemble's heads)."""
    from nao_kfp.controller import decode_candidates, eta_ladder

    s = cfg.search
    accept = evaluator.budget()
    etas = eta_ladder(s.eta, s.eta_growth, s.eta_max)
    taken = set(known)
    out: list[PoolEntry] = []
    beam = s.beam
    # late in a search the seeds' nearest decodings are all known: widen the beam (each
    # attempt doubles it) until search.candidates are found
    for _attempt in range(s.decode_attempts if s.candidates else 1):
        found = decode_candidates(model, emb, etas=etas, known_ids=taken, beam=beam, accept=accept)
        for e in found:
            got = _scorable(evaluator, e, taken, rng, accept)
            if got is not None:
                taken.add(got.id)
                out.append(got)
        if len(out) >= s.candidates or beam >= MAX_BEAM:
            break
        beam = min(2 * beam, MAX_BEAM)
    for e in mutations(cfg, emb, evaluator, rng):
        got = _scorable(evaluator, e, taken, rng, accept)
        if got is not None:
            taken.add(got.id)
            out.append(got)
    archs = [e.arch for e in out]
    scores = model.score(archs, s.explore)
    predicted = model.score(archs) if s.explore else scores
    for e, p in zip(out, predicted, strict=True):
        e.predicted = p
    order = sorted(range(len(out)), key=lambda i: (-scores[i], out[i].id))
    return [out[i] for i in order]


def mutations(
    cfg: Config, emb: Embeddings, evaluator: Evaluator, rng: random.Random
) -> list[PoolEntry]:
    """search.mutations: that many random one-step mutations (space.mutate) of each seed, as
    candidates beside the decoded ones (source `mutation`; BANANAS's local search)."""
    space = evaluator.space
    out: list[PoolEntry] = []
    for seed in emb.seeds if cfg.search.mutations else ():
        arch = space.parse(seed)
        for _ in range(cfg.search.mutations):
            out.append(entry(space, space.mutate(arch, rng), source="mutation", seed_arch=seed))
    return out


def _scorable(
    evaluator: Evaluator, e: PoolEntry, known: set[str], rng: random.Random, accept: Accept | None
) -> PoolEntry | None:
    """A decoded entry as the evaluator can score it: e itself, or a copy holding the
    evaluator's stand-in (source `nao-nearest`); None when that is outside the budget or
    already in `known` (a stand-in chosen for an earlier proposal of this batch)."""
    arch = evaluator.substitute(e.arch, known, rng)
    if arch is None or (accept is not None and not accept(arch)):
        return None
    cid = evaluator.space.canonical_id(arch)
    if cid in known:
        return None
    if cid == e.id:
        return e
    return dataclasses.replace(e, arch=arch, source="nao-nearest", extra=dict(e.extra))


def _decode_first(
    cfg: Config,
    model: NAOModel,
    emb: Embeddings,
    known: set[str],
    evaluator: Evaluator,
    rng: random.Random,
    want: int,
) -> list[PoolEntry]:
    """search.select first: up to `want` decoded architectures (or stand-ins), in the order
    decode_new finds them; adds their ids to `known`."""
    from nao_kfp.controller import decode_new

    s = cfg.search
    accept = evaluator.budget()
    new: list[PoolEntry] = []
    skipped: set[str] = set()
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
            got = _scorable(evaluator, e, known, rng, accept)
            if got is not e:  # unscorable, or replaced by its stand-in
                skipped.add(e.id)
                if got is None:
                    continue
                (got.predicted,) = model.predict([got.arch])
            known.add(got.id)
            new.append(got)
    return new
