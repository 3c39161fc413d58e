"""search: Algorithm 1's sizes, the proposal ladder, priors and budgets, with their checks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from nao_kfp.config.bounds import (
    EPOCHS_WHY,
    MAX_EPOCHS,
    MAX_PROXY_NETS,
    MAX_SEED,
    PROXY_WHY,
)
from nao_kfp.config.keys import key
from nao_kfp.errors import ConfigError, shorten
from nao_kfp.spaces import DEFAULT_SPACE, SPACES, get_space

# The pipeline unrolls its rounds and shards at compile time. Each round adds a task (about
# 1 KiB) to the compiled IR: 200 rounds keep it under the 300 KiB tests/test_pipeline_size.py
# bounds. Each shard is a task of every round; more than this is no search one cluster runs.
MAX_ROUNDS = 200
MAX_SHARDS = 1000
# the widest beam search.candidates may grow a decoding to
MAX_BEAM = 256

FILLS = ("random", "none")
SELECTS = ("first", "predicted")
PRIOR_TARGETS = ("quantile", "zscore")


# A ceiling on the counts that drive the search's loops: each is an architecture that is
# sampled, encoded and held in memory (and most are evaluated).
MAX_ARCHS = 100_000
ARCHS_WHY = "each is an architecture sampled and held in memory"
# eta, eta * eta_growth, ... <= eta_max: every step decodes every seed.
MAX_LADDER = 64


@dataclass(frozen=True)
class SearchConfig:
    """Algorithm 1: how many architectures, rounds and proposals."""

    space: str = key(
        DEFAULT_SPACE,
        "The search space (its architectures and their string form).",
        choices=tuple(SPACES),
    )
    rounds: int = key(
        3,
        "L: rounds of evaluate, fit, optimize and decode (NAO-WS: one per scoring point "
        "of the supernet schedule, when left out).",
        min=1,
        max=MAX_ROUNDS,
        why="the pipeline unrolls its rounds at compile time",
    )
    initial_archs: int = key(
        20, "N: random architectures evaluated before round 1.", min=1, max=MAX_ARCHS, why=ARCHS_WHY
    )
    top_k: int = key(
        10,
        "K: the best architectures whose embeddings are optimized each round.",
        min=1,
        max=MAX_ARCHS,
        why=ARCHS_WHY,
    )
    new_archs: int = key(
        10, "New architectures proposed per round.", min=1, max=MAX_ARCHS, why=ARCHS_WHY
    )
    eta: float = key(10.0, "Step size of the embedding optimization.", min=0.0, exclusive="min")
    eta_growth: float = key(
        2.0,
        "Multiply eta by this when a decoded architecture is already known.",
        min=1.0,
        exclusive="min",
    )
    eta_max: float = key(1000.0, "The largest step size eta grows to.", min=0.0, exclusive="min")
    seed: int = key(
        0,
        "The search's seed: the same seed gives the same search on a CPU.",
        min=0,
        max=MAX_SEED,
        why="numpy's seed range",
    )
    early_stop: bool = key(False, "Skip later rounds when a round brought no improvement.")
    shards: int = key(
        2,
        "Each round's children are split into this many evaluation tasks.",
        min=1,
        max=MAX_SHARDS,
        why="the pipeline unrolls its shards at compile time",
    )
    warm_epochs: int = key(
        0,
        "Epochs of a warm-started fit (rounds after the first); 0: "
        "controller.epochs. A warm start already encodes, ranks and decodes "
        "the earlier pool, so a short fit only has to absorb the last "
        "round's few new architectures.",
        min=0,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    max_evaluations: int = key(
        0,
        "A cap on evaluated architectures (a query budget); 0: none. "
        "Decoding proposes no more than what is left, so the first n "
        "evaluations of a search with budget B are the search with "
        "budget n.",
        min=0,
        max=MAX_ARCHS * MAX_ROUNDS,
        why="more than the rounds can propose",
    )
    decode_attempts: int = key(
        20,
        "Decoding rounds per step while proposals are duplicates or "
        "cannot be evaluated (e.g. not in the table); each grows eta "
        "from search.eta again past what it found.",
        min=1,
        max=1000,
        why="each decodes every seed again",
    )
    fill: str = key(
        "random",
        "What fills a round when decoding found fewer new architectures "
        "than search.new_archs: random (unseen random architectures) or none.",
        choices=FILLS,
    )
    fan_in: str = key(
        "artifacts",
        "How a round's shard results reach its merge task: "
        "artifacts (collected outputs; needs a KFP backend 2.14.0 or newer) or "
        "store (each shard writes its results to the result store and merge reads "
        "them there; any KFP 2 backend).",
        choices=("artifacts", "store"),
    )

    # ---- how a round picks its new architectures; the default is the paper's.
    select: str = key(
        "first",
        "How a round picks its new architectures. first: decode every "
        "seed at eta, grow eta until search.new_archs are new. predicted: decode "
        "every seed at every step eta, eta * eta_growth, ... <= eta_max, and "
        "evaluate the candidates the predictor ranks highest (plus "
        "search.explore times the spread of the ensemble's heads).",
        choices=SELECTS,
    )
    beam: int = key(
        1,
        "select predicted: keep the beam most likely architectures of each "
        "decoding (beam search; 1: greedy), the decoder's near alternatives to "
        "where the step landed.",
        min=1,
        max=MAX_BEAM,
        why="wider beams are never used: the search widens it up to this itself",
    )
    candidates: int = key(
        0,
        "select predicted: rank at least this many candidates; while fewer "
        "are new, decode again with twice the beam (up to "
        "search.decode_attempts times). 0: one decoding as it comes.",
        min=0,
        max=MAX_ARCHS,
        why=ARCHS_WHY,
    )
    explore: float = key(
        0.0,
        "select predicted: how much the spread of the predictor "
        "ensemble's heads adds to a candidate's rank (needs "
        "controller.ensemble >= 2).",
        min=0.0,
    )
    random_share: float = key(
        0.0,
        "Share of a round's new architectures drawn at random instead (exploration), e.g. 0.1.",
        min=0.0,
        max=1.0,
    )
    warm_pseudo_labels: int = key(
        0,
        "SemiNAS in a warm-started fit: this many unseen random "
        "architectures labeled by the predictor (0: none; the cold "
        "fit's controller.pseudo_labels already taught the decoder "
        "the space, these keep it from narrowing to the evaluated "
        "few).",
        min=0,
        max=MAX_ARCHS,
        why=ARCHS_WHY,
    )
    warm_pseudo_epochs: int = key(
        0,
        "SemiNAS in a warm-started fit: epochs on the labeled and "
        "pseudo-labeled architectures (0: none).",
        min=0,
        max=MAX_EPOCHS,
        why=EPOCHS_WHY,
    )
    warm_predictor_only: bool = key(
        False,
        "A warm-started fit trains only the predictor: the "
        "cold fit's encoder and decoder stay as they are, so the "
        "embedding space and the decoder's neighbourhoods stay the "
        "same from round to round, and a round costs "
        "milliseconds.",
    )
    mutations: int = key(
        0,
        "select predicted: beside the decoded candidates, this many random "
        "one-step mutations of each top-K seed join the ranking (BANANAS's "
        "local candidates). 0: none.",
        min=0,
        max=1000,
        why="each seed's mutations are all scored by the predictor",
    )

    # ---- priors: pools of earlier searches in the same space, any data set.
    prior: list[str] = key(
        doc="Pool files of earlier searches in the same space (local paths, "
        "or s3://bucket/key read through the store). Accuracies from other "
        "data sets are not comparable, so each file counts by ranks: an "
        "architecture's quantile within its own file, mapped onto this "
        "search's evaluated accuracies (quantile) or its z-score within the "
        "file onto theirs (zscore). Every fit trains on them beside the "
        "search's own architectures.",
        factory=list,
        max=100,
        why="each file is read into memory by every fit",
    )
    prior_seed: int = key(
        0,
        "With priors: this many initial architectures are the priors' best, not random.",
        min=0,
        max=MAX_ARCHS,
        why=ARCHS_WHY,
    )
    prior_targets: str = key(
        "quantile",
        "How a prior's accuracies map onto this search's: quantile or zscore.",
        choices=PRIOR_TARGETS,
    )
    prior_weight: float = key(
        1.0, "Each prior architecture weighs this many times an own one in a fit.", min=0.0
    )
    prior_half_life: int = key(
        0, "The prior weight halves every this many own evaluations (0: never).", min=0
    )

    # ---- zero-cost seeding
    proxy_seed: int = key(
        0,
        "Up to this many of the initial architectures (at most those the "
        "priors' best leave of search.initial_archs) are the best of "
        "search.proxy_pool unseen random ones by SynFlow and the parameter "
        "count of their untrained child network: no evaluation is spent on "
        "choosing them; the rest of the initial sample is random.",
        min=0,
        max=MAX_PROXY_NETS,
        why=PROXY_WHY,
    )
    proxy_pool: int = key(
        100,
        "The random architectures search.proxy_seed chooses from.",
        min=1,
        max=MAX_PROXY_NETS,
        why=PROXY_WHY,
    )

    # Budgets on the child network the search trains.
    max_params: int = key(
        0,
        "Parameter budget of the child network the search trains "
        "(child.layers, child.channels, the data set's image size; without "
        "the auxiliary head): sampling and decoding only return "
        "architectures within it. 0: no limit.",
        min=0,
    )
    max_macs: int = key(
        0,
        "Multiply-add budget of one image through the child network the "
        "search trains: sampling and decoding only return architectures within "
        "it. 0: no limit.",
        min=0,
    )


def check_search_size(s: SearchConfig) -> None:
    """The loop's sizes against the space and each other."""
    size = _space_size(s.space)
    if s.initial_archs > size:
        raise ConfigError(
            f"search.initial_archs: {s.initial_archs} is more than the {size} architectures of the {s.space} space"
        )
    if s.top_k > s.initial_archs:
        raise ConfigError(
            f"search.top_k: {s.top_k} seeds but only {s.initial_archs} initial architectures (search.initial_archs)"
        )


def check_search_proposals(s: SearchConfig) -> None:
    """The eta ladder."""
    if s.eta_max < s.eta:
        raise ConfigError(f"search.eta_max: {s.eta_max} is below search.eta {s.eta}")
    steps = math.floor((math.log(s.eta_max) - math.log(s.eta)) / math.log(s.eta_growth)) + 1
    if steps > MAX_LADDER:
        raise ConfigError(
            f"search.eta_growth: {s.eta_growth} takes {steps} steps from search.eta {s.eta} to "
            f"search.eta_max {s.eta_max}; expected at most {MAX_LADDER} (each step decodes "
            "every seed)"
        )


def check_search_priors(s: SearchConfig) -> None:
    """The prior pools and the initial sample they and the proxies seed."""
    for i, ref in enumerate(s.prior):
        if not ref.strip():
            raise ConfigError(f"search.prior[{i}]: expected a pool file or s3://bucket/key, got ''")
        if ref.startswith("s3://") and not re.fullmatch(r"s3://[^/]+/.+", ref):
            raise ConfigError(f"search.prior[{i}]: {shorten(ref)}: expected s3://bucket/key")
        if ref in s.prior[:i]:
            raise ConfigError(f"search.prior[{i}]: {shorten(ref)} is listed twice")
    if s.prior_seed > s.initial_archs:
        raise ConfigError(
            f"search.prior_seed: {s.prior_seed} is more than search.initial_archs ({s.initial_archs})"
        )
    if s.proxy_pool < s.proxy_seed:
        raise ConfigError(
            f"search.proxy_pool: {s.proxy_pool} random architectures cannot give search.proxy_seed {s.proxy_seed}"
        )


def check_search_loop(s: SearchConfig) -> None:
    """The query budget."""
    if 0 < s.max_evaluations < s.initial_archs:
        raise ConfigError(
            f"search.max_evaluations: {s.max_evaluations} is below search.initial_archs ({s.initial_archs})"
        )


def _space_size(name: str) -> int:
    """How many token sequences the space has: a bound on its distinct architectures."""

    space = get_space(name)
    return math.prod(len(space.valid_tokens(p)) for p in range(space.seq_len))
