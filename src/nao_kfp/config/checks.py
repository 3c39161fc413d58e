"""The top-level name's check, the checks across sections, and the one order every check runs in.

Each section's own checks sit beside its fields (config/search.py, ...). The order is the one
the messages have always come in, since the first problem found is the one reported: a check
across sections runs right after the section checks of the fields it reads.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nao_kfp.config.child import DATASETS, TRAIN_IMAGES, check_child
from nao_kfp.config.cluster import check_cluster
from nao_kfp.config.controller import check_controller
from nao_kfp.config.evaluator import check_evaluator
from nao_kfp.config.final import check_final
from nao_kfp.config.keys import check_keys
from nao_kfp.config.search import (
    MAX_ROUNDS,
    check_search_loop,
    check_search_priors,
    check_search_proposals,
    check_search_size,
)
from nao_kfp.config.supernet import check_supernet
from nao_kfp.errors import ConfigError, shown
from nao_kfp.kinds import KINDS
from nao_kfp.spaces import SPACES, declaring, get_space

if TYPE_CHECKING:
    from nao_kfp.config.root import Config

# config.name names the default run folder (runs/<name>-<time>) and the KFP run.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")


def having(what: str) -> str:
    """The registered spaces that declare `what` (a SearchSpace attribute), for a message."""
    return ", ".join(declaring(what))


def check(cfg: Config) -> None:
    """Every check, once at load time: the name, each key's own limits, each section's checks
    across its keys and those across sections. What a space or an evaluator kind can do comes
    from its declaration (SearchSpace's, nao_kfp.kinds)."""
    s, c, ch, cl = cfg.search, cfg.controller, cfg.child, cfg.cluster
    check_name(cfg.name)
    check_keys(cfg)  # the space and the kind are names of registered ones from here on
    space, kind = get_space(s.space), KINDS[cfg.evaluator.kind]
    check_search_size(s)
    for key in ("max_params", "max_macs"):
        if getattr(s, key) and not space.budgets and not kind.reads_table:
            raise ConfigError(
                f"search.{key}: budgets apply to the image children of "
                f"{having('budgets').replace(', ', ' and ')}, not to search.space {s.space!r}"
            )
    check_search_proposals(s)
    if s.explore and c.ensemble < 2:
        raise ConfigError(
            f"search.explore: {s.explore} needs the spread of controller.ensemble >= 2 heads, "
            f"got {c.ensemble}"
        )
    check_search_priors(s)
    if s.prior and kind.shares_weights:
        raise ConfigError(
            "search.prior: NAO-WS scores with its own supernet; priors need another evaluator.kind"
        )
    check_search_loop(s)
    ev = cfg.evaluator
    if kind.needs == "network" and not space.network:
        raise ConfigError(
            f"search.space: {s.space} has no child trainer for evaluator.kind {kind.name} "
            f"({having('network')} have one); use evaluator.kind table or synthetic"
        )
    check_evaluator(ev)
    if kind.needs == "proxies" and not space.proxies:
        raise ConfigError(
            f"evaluator.kind: {kind.name} needs an image space ({having('proxies')}), "
            f"got {s.space!r}"
        )
    for key, uses_proxies in (
        ("evaluator.proxies", ev.proxies),
        ("search.proxy_seed", s.proxy_seed),
    ):
        if uses_proxies and not space.proxies:
            raise ConfigError(
                f"{key}: the proxies score image networks ({having('proxies')}), "
                f"not search.space {s.space!r}"
            )
    check_controller(c)
    if space.data and DATASETS[ch.dataset] != space.data:
        fits = [d for d, what in DATASETS.items() if what == space.data]
        text = [d for d, what in DATASETS.items() if what == "text"]
        readers = [n for n, sp in SPACES.items() if sp.data == "text"]
        raise ConfigError(
            f"child.dataset: {ch.dataset!r} does not fit search.space {s.space!r} "
            + (
                f"({' and '.join(text)} goes with {' and '.join(readers)} only)"
                if "text" in (space.data, DATASETS[ch.dataset])
                else f"(expected {' or '.join(fits)})"
            )
        )
    check_child(ch)
    _check_final(cfg)
    check_supernet(cfg.supernet)
    if kind.shares_weights:
        _check_weight_sharing(cfg)
    check_cluster(cl)


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise ConfigError(
            f"name: expected letters, digits, spaces, '.', '_' or '-' starting with a letter or "
            f"digit (it names the run folder), got {shown(name)}"
        )


def _check_final(cfg: Config) -> None:
    f = cfg.final
    check_final(f)
    total = TRAIN_IMAGES.get(cfg.child.dataset)
    if total is not None and cfg.child.dev_size + max(f.train_subset, 1) > total:
        raise ConfigError(
            f"final.train_subset: {f.train_subset} train images and child.dev_size "
            f"{cfg.child.dev_size} do not fit in {cfg.child.dataset}'s {total} training images"
        )
    space = get_space(cfg.search.space)
    if f.enabled and not (space.network and space.data == "image"):
        images = [n for n, sp in SPACES.items() if sp.network and sp.data == "image"]
        raise ConfigError(
            f"final.enabled: the final training builds image networks ({', '.join(images)}), "
            f"not search.space {cfg.search.space!r}"
        )


def _check_weight_sharing(cfg: Config) -> None:
    """evaluator.kind supernet: the search's rounds follow the supernet schedule."""
    s, sn = cfg.search, cfg.supernet
    if not get_space(s.space).supernet:
        raise ConfigError(
            f"evaluator.kind: {cfg.evaluator.kind} needs search.space "
            f"{having('supernet').replace(', ', ' or ')}, got {s.space!r}"
        )
    rounds = -(-sn.epochs // sn.rounds_every)  # checked before the scoring epochs are listed
    if rounds > MAX_ROUNDS:
        raise ConfigError(
            f"supernet.epochs: {sn.epochs} epochs scored every {sn.rounds_every} "
            f"(supernet.rounds_every) are {rounds} rounds; expected at most {MAX_ROUNDS} (the "
            "pipeline unrolls its rounds at compile time)"
        )
    points = sn.schedule()
    if s.rounds != len(points):  # (a config without search.rounds has these: root.py)
        raise ConfigError(
            f"search.rounds: NAO-WS scores the pool at supernet epochs {', '.join(map(str, points))} "
            f"(supernet.epochs / supernet.rounds_every), so it has {len(points)} rounds; got "
            f"{s.rounds} (leave search.rounds out: it follows the schedule)"
        )
    if s.shards != 1:
        raise ConfigError(
            f"search.shards: NAO-WS trains one supernet on one GPU; expected 1, got {s.shards}"
        )
    n_dev = sn.dev_batches * sn.eval_batch_size
    # (a language model scores on the corpus's validation text, checked when it is read)
    if DATASETS[cfg.child.dataset] == "image" and n_dev > cfg.child.dev_size:
        raise ConfigError(
            f"supernet.dev_batches: {sn.dev_batches} batches of supernet.eval_batch_size "
            f"{sn.eval_batch_size} need {n_dev} dev images, but child.dev_size is "
            f"{cfg.child.dev_size}"
        )
