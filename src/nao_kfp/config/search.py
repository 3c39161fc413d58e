"""search: Algorithm 1's sizes, the proposal ladder, priors and budgets, with their checks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from nao_kfp.config.bounds import _positive, _unrolled
from nao_kfp.errors import ConfigError

# numpy's seed range; torch takes more, but a seed is also a numpy seed in the child runtime.
MAX_SEED = 2**32 - 1
# The pipeline unrolls its rounds and shards at compile time. Each round adds a task (about
# 1 KiB) to the compiled IR: 200 rounds keep it under the 300 KiB tests/test_pipeline_size.py
# bounds. Each shard is a task of every round; more than this is no search one cluster runs.
MAX_ROUNDS = 200
MAX_SHARDS = 1000

FILLS = ("random", "none")
SELECTS = ("first", "predicted")
PRIOR_TARGETS = ("quantile", "zscore")


@dataclass(frozen=True)
class SearchConfig:
    """Algorithm 1: how many architectures, rounds and proposals."""

    space: str = "enas"
    rounds: int = 3  # L
    initial_archs: int = 20  # N random architectures before round 1
    top_k: int = 10  # K seed architectures whose embeddings are optimized
    new_archs: int = 10  # new architectures proposed per round
    eta: float = 10.0  # step size of the embedding optimization
    eta_growth: float = 2.0  # multiply eta by this when a decoded arch is already known
    eta_max: float = 1000.0
    seed: int = 0
    early_stop: bool = False  # skip later rounds when a round brought no improvement
    shards: int = 2  # children are split into this many train-children tasks per round
    # Epochs of a warm-started fit (rounds after the first); 0: controller.epochs. A warm start
    # already encodes, ranks and decodes the earlier pool, so a short fit only has to absorb the
    # last round's few new archs.
    warm_epochs: int = 0
    # A warm-started fit of exactly this many optimizer steps (controller.steps) instead of
    # warm_epochs: a round's fit then costs the same in round 50 as in round 3, however many
    # architectures were evaluated. 0: epochs.
    warm_steps: int = 0
    # Cap on evaluated architectures (a query budget); 0: none. Decoding proposes no more than
    # what is left, so the first n evaluations of a search with budget B are the search with n.
    max_evaluations: int = 0
    # Decoding rounds per step while proposals are duplicates or cannot be evaluated (e.g. not in
    # the table); each grows eta from search.eta again past what it found.
    decode_attempts: int = 20
    # What fills a round when decoding found fewer new archs than search.new_archs:
    # random (unseen random architectures, source random-fill) or none.
    fill: str = "random"
    # How a round's shard results reach its merge task: artifacts (dsl.Collected; needs KFP
    # backend >= 2.14.0) or store (each shard writes its results to the result store and
    # merge runs after the whole loop and reads them there; any KFP 2 backend).
    fan_in: str = "artifacts"

    # ---- how a round picks its new architectures (issue 11); the default is the paper's.
    # first: decode every seed at eta, grow eta until search.new_archs are new. predicted:
    # decode every seed at every step of the ladder eta, eta * eta_growth, ... <= eta_max, and
    # query the candidates f ranks highest (f + explore * the spread of the ensemble's heads).
    select: str = "first"
    # select predicted: keep the `beam` most likely architectures of each decoding (beam
    # search; 1: greedy) -- the decoder's near alternatives to where the step landed.
    beam: int = 1
    # select predicted: rank at least this many candidates; while fewer are new, decode again
    # with twice the beam (up to search.decode_attempts times). 0: one decoding as it comes.
    candidates: int = 0
    explore: float = 0.0
    # Share of a round's new architectures drawn at random instead (exploration), e.g. 0.1.
    random_share: float = 0.0
    # SemiNAS in a warm-started fit: how many pseudo-labeled architectures, for how many
    # epochs (0 epochs: none; the cold fit's controller.pseudo_* already taught the decoder the
    # space, these keep it from narrowing to the evaluated few).
    warm_pseudo_labels: int = 0
    warm_pseudo_epochs: int = 0
    # A warm-started fit trains only the predictor (controller.predictor_only): the cold fit's
    # encoder and decoder stay as they are, so the embedding space and the decoder's
    # neighbourhoods stay the same from round to round, and a round costs milliseconds.
    warm_predictor_only: bool = False
    # select predicted: beside the decoded candidates, this many random one-step mutations
    # (space.mutate) of each top-K seed join the ranking (BANANAS's local candidates). 0: none.
    mutations: int = 0

    # ---- priors (issue 20): pools of earlier searches in the same space, any data set.
    # Pool files (local paths, or s3://bucket/key read through the store). Accuracies from other
    # data sets are not comparable, so each file counts by ranks: an architecture's quantile
    # within its own file, mapped onto this search's evaluated accuracies (quantile) or its
    # z-score within the file onto theirs (zscore). Every fit trains on them beside the
    # search's own architectures, each weighing prior_weight times an own one, halved every
    # prior_half_life own evaluations (0: never).
    prior: list[str] = field(default_factory=list)
    prior_seed: int = 0  # with priors: this many initial archs are the priors' best, not random
    prior_targets: str = "quantile"
    prior_weight: float = 1.0
    prior_half_life: int = 0

    # ---- zero-cost seeding (issue 20): up to this many of the initial archs (at most those the
    # priors' best leave of search.initial_archs) are the best of search.proxy_pool unseen
    # random ones by SynFlow + parameter count of their untrained child network
    # (child/proxies.py, ranked within the pool): no evaluation is spent on choosing them; the
    # rest of the initial sample is random.
    proxy_seed: int = 0
    proxy_pool: int = 100

    # Budgets on the child network the search trains (child.layers, child.channels, the data
    # set's image size; parameters without the auxiliary head, multiply-adds of one image):
    # sampling and decoding only return architectures within them. 0: no limit.
    max_params: int = 0
    max_macs: int = 0


def check_search_size(s: SearchConfig) -> None:
    """The space, the loop's sizes and the budgets' signs."""
    from nao_kfp.spaces import SPACES

    if s.space not in SPACES:
        raise ConfigError(
            f"search.space: unknown space {s.space!r} (expected one of: {', '.join(SPACES)})"
        )
    _positive("search.rounds", s.rounds)
    _positive("search.initial_archs", s.initial_archs)
    _positive("search.top_k", s.top_k)
    _positive("search.new_archs", s.new_archs)
    _positive("search.shards", s.shards)
    _unrolled("search.rounds", s.rounds, MAX_ROUNDS, "rounds")
    _unrolled("search.shards", s.shards, MAX_SHARDS, "shards")
    size = _space_size(s.space)
    if s.initial_archs > size:
        raise ConfigError(
            f"search.initial_archs: {s.initial_archs} is more than the {size} architectures of the {s.space} space"
        )
    if s.top_k > s.initial_archs:
        raise ConfigError(
            f"search.top_k: {s.top_k} seeds but only {s.initial_archs} initial architectures (search.initial_archs)"
        )
    if not 0 <= s.seed <= MAX_SEED:
        raise ConfigError(f"search.seed: expected 0..{MAX_SEED}, got {s.seed}")
    _positive("search.max_params", s.max_params, zero_ok=True)
    _positive("search.max_macs", s.max_macs, zero_ok=True)


def check_search_proposals(s: SearchConfig) -> None:
    """The eta ladder and how a round selects its new architectures."""
    if s.eta <= 0:
        raise ConfigError(f"search.eta: expected a positive step size, got {s.eta}")
    if s.eta_growth <= 1:
        raise ConfigError(f"search.eta_growth: expected a factor > 1, got {s.eta_growth}")
    if s.eta_max < s.eta:
        raise ConfigError(f"search.eta_max: {s.eta_max} is below search.eta {s.eta}")
    _positive("search.warm_epochs", s.warm_epochs, zero_ok=True)
    _positive("search.warm_steps", s.warm_steps, zero_ok=True)
    _positive("search.max_evaluations", s.max_evaluations, zero_ok=True)
    _positive("search.decode_attempts", s.decode_attempts)
    if s.fill not in FILLS:
        raise ConfigError(f"search.fill: expected one of {', '.join(FILLS)}, got {s.fill!r}")
    if s.select not in SELECTS:
        raise ConfigError(f"search.select: expected one of {', '.join(SELECTS)}, got {s.select!r}")
    _positive("search.beam", s.beam)
    _positive("search.candidates", s.candidates, zero_ok=True)
    _positive("search.warm_pseudo_labels", s.warm_pseudo_labels, zero_ok=True)
    _positive("search.warm_pseudo_epochs", s.warm_pseudo_epochs, zero_ok=True)
    _positive("search.explore", s.explore, zero_ok=True)
    if not 0.0 <= s.random_share <= 1.0:
        raise ConfigError(f"search.random_share: expected a value in [0, 1], got {s.random_share}")


def check_search_priors(s: SearchConfig) -> None:
    """Mutations and the prior pools."""
    _positive("search.mutations", s.mutations, zero_ok=True)
    for i, ref in enumerate(s.prior):
        if not ref.strip():
            raise ConfigError(f"search.prior[{i}]: expected a pool file or s3://bucket/key, got ''")
        if ref.startswith("s3://") and not re.fullmatch(r"s3://[^/]+/.+", ref):
            raise ConfigError(f"search.prior[{i}]: {ref}: expected s3://bucket/key")
        if ref in s.prior[:i]:
            raise ConfigError(f"search.prior[{i}]: {ref} is listed twice")
    _positive("search.prior_seed", s.prior_seed, zero_ok=True)
    if s.prior_seed > s.initial_archs:
        raise ConfigError(
            f"search.prior_seed: {s.prior_seed} is more than search.initial_archs ({s.initial_archs})"
        )
    _positive("search.proxy_seed", s.proxy_seed, zero_ok=True)
    if s.proxy_seed and s.proxy_pool < s.proxy_seed:
        raise ConfigError(
            f"search.proxy_pool: {s.proxy_pool} random architectures cannot give search.proxy_seed {s.proxy_seed}"
        )
    if s.prior_targets not in PRIOR_TARGETS:
        raise ConfigError(
            f"search.prior_targets: expected one of {', '.join(PRIOR_TARGETS)}, got {s.prior_targets!r}"
        )
    _positive("search.prior_weight", s.prior_weight, zero_ok=True)
    _positive("search.prior_half_life", s.prior_half_life, zero_ok=True)


def check_search_loop(s: SearchConfig) -> None:
    """How shard results reach merge, and the query budget."""
    if s.fan_in not in ("artifacts", "store"):
        raise ConfigError(f"search.fan_in: expected artifacts or store, got {s.fan_in!r}")
    if 0 < s.max_evaluations < s.initial_archs:
        raise ConfigError(
            f"search.max_evaluations: {s.max_evaluations} is below search.initial_archs ({s.initial_archs})"
        )


def _space_size(name: str) -> int:
    """How many token sequences the space has: a bound on its distinct architectures."""
    from nao_kfp.spaces import get_space

    space = get_space(name)
    return math.prod(len(space.valid_tokens(p)) for p in range(space.seq_len))
