"""Priors: what earlier searches in the same space (any data set) teach a new one (search.prior).

A prior is a pool file of an earlier search. Accuracies from different data sets are not
comparable (72 % is the best cell on CIFAR-100 and 46 % on ImageNet16-120), but their order
transfers, so a prior counts by ranks only:

    read_prior     one pool file (a path, or s3://bucket/key through the store), checked: same
                   space, at least two evaluated architectures
    prior_set      every file's evaluated architectures with accuracy := its quantile within its
                   own file (best 1, worst 0; an architecture in several files gets the mean),
                   `prior_source` naming the file: the prior set is itself a pool file
    best           the prior set's best architectures (the initial population's search.prior_seed)
    targets        the prior set in this search's units: each quantile mapped onto the search's
                   own evaluated accuracies (search.prior_targets quantile), or each z-score within
                   its file onto their mean and spread (zscore)
    weight         what one prior architecture weighs in a fit beside one of the search's own:
                   search.prior_weight, halved every search.prior_half_life own evaluations

The prior set travels with the controller: `attach` writes it into a model folder (round 1's
empty init model), and every fit copies it into the model it writes, so no step's signature
changes and the pipeline's rounds carry it as part of the Model artifact.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from nao_kfp.config import Config
from nao_kfp.errors import ConfigError, PoolError
from nao_kfp.pool import PoolEntry, entry, evaluated, read_pool, write_pool
from nao_kfp.spaces import Arch
from nao_kfp.store import open_store

PRIOR_FILE = "prior.jsonl"
SOURCE = "prior_source"  # an entry's extra: the prior file it came from
ORIGINAL = "prior_accuracy"  # ... and its accuracy there
MIN_WEIGHT = 0.01  # below this a fit leaves the prior out (it would only cost time)


def read_prior(cfg: Config, ref: str, where: str, local: Path | None = None) -> list[PoolEntry]:
    """The evaluated entries of one prior pool file, checked; `local` is where a pipeline's
    importer put it (when that exists), else `ref` is read (s3:// through the store)."""
    space = cfg.search.space
    try:
        if local is not None and Path(local).is_file():
            pool = read_pool(local)
        elif ref.startswith("s3://"):
            pool = _read_s3(cfg, ref)
        else:
            pool = read_pool(ref)
    except PoolError as e:
        raise ConfigError(f"{where}: {e}") from None
    other = next((e for e in pool if e.space != space), None)
    if other is not None:
        raise ConfigError(
            f"{where}: {ref}: a pool of the {other.space} space; this search is in {space}"
        )
    ok = evaluated(pool)
    if len(ok) < 2:
        raise ConfigError(
            f"{where}: {ref}: {len(ok)} evaluated architectures; a prior needs at least 2"
        )
    return ok


def _read_s3(cfg: Config, ref: str) -> list[PoolEntry]:

    bucket, key = ref[len("s3://") :].split("/", 1)
    cluster = dataclasses.replace(cfg.cluster, s3_bucket=bucket)
    with tempfile.TemporaryDirectory(prefix="nao-prior-") as tmp:
        dest = Path(tmp) / "prior.jsonl"
        store = open_store(cluster, Path(tmp), read_only=True) if cluster.s3_endpoint else None
        if store is None or not store.get_file(key, dest):
            where = cluster.s3_endpoint or "no cluster.s3_endpoint"
            raise PoolError(f"{ref}: no such object ({where})")
        return read_pool(dest)


def prior_set(sources: Sequence[tuple[str, Sequence[PoolEntry]]]) -> list[PoolEntry]:
    """Every source's entries with accuracy := quantile within the source (ties share the
    mean rank), merged by id (mean quantile); extras: the source(s) and the original accuracy."""
    merged: dict[str, list[PoolEntry]] = {}
    for name, entries in sources:
        accs = [float(e.accuracy or 0.0) for e in entries]
        mean, sd = statistics.fmean(accs), statistics.pstdev(accs) or 1.0
        for e, q, a in zip(entries, quantiles(accs), accs, strict=True):
            prior = entry(e.sp, e.arch, q)
            prior.extra.update({SOURCE: name, ORIGINAL: a, "z": (a - mean) / sd})
            merged.setdefault(e.id, []).append(prior)
    out = []
    for copies in merged.values():
        first = copies[0]
        first.accuracy = statistics.fmean(float(c.accuracy or 0.0) for c in copies)
        first.extra["z"] = statistics.fmean(_z(c) for c in copies)
        first.extra[SOURCE] = ", ".join(c.text(SOURCE) for c in copies)
        out.append(first)
    return out


def quantiles(values: Sequence[float]) -> list[float]:
    """Each value's rank among `values` scaled to [0, 1] (the best 1); ties share their mean."""
    n = len(values)
    order = sorted(range(n), key=lambda i: values[i])
    ranks = [0.0] * n
    i = 0
    while i < n:
        j = i
        while j + 1 < n and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return [r / max(n - 1, 1) for r in ranks]


def best(prior: Sequence[PoolEntry], n: int) -> list[Arch]:
    """The n best architectures of the prior set (ties by id)."""
    ranked = sorted(prior, key=lambda e: (-float(e.accuracy or 0.0), e.id))
    return [e.arch for e in ranked[:n]]


def targets(cfg: Config, prior: Sequence[PoolEntry], own: Sequence[PoolEntry]) -> list[PoolEntry]:
    """The prior set in the units of the search's own evaluated accuracies, without the
    architectures the search has evaluated itself (its own accuracy is the better label)."""
    accs = sorted(float(e.accuracy or 0.0) for e in evaluated(own))
    seen = {e.id for e in own}
    out = []
    for e in prior:
        if e.id in seen:
            continue
        if cfg.search.prior_targets == "quantile":
            acc = _interpolate(accs, float(e.accuracy or 0.0))
        else:
            mean, sd = statistics.fmean(accs), statistics.pstdev(accs)
            acc = min(max(mean + _z(e) * sd, accs[0]), accs[-1])
        out.append(entry(e.sp, e.arch, acc))
    return out


def _z(e: PoolEntry) -> float:
    """A prior entry's z-score within its own source (set when the prior was read)."""
    z = e.number("z")
    if z is None:
        raise PoolError(f"prior: {e.id}: z is missing or not a number")
    return z


def _interpolate(sorted_accs: Sequence[float], q: float) -> float:
    """The q-quantile of sorted_accs, linearly interpolated."""
    pos = q * (len(sorted_accs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_accs) - 1)
    return sorted_accs[lo] + (sorted_accs[hi] - sorted_accs[lo]) * (pos - lo)


def weight(cfg: Config, own: int) -> float:
    """One prior architecture's weight in a fit beside `own` evaluated architectures."""
    s = cfg.search
    if s.prior_half_life <= 0:
        return s.prior_weight
    return s.prior_weight * 0.5 ** (own / s.prior_half_life)


def for_fit(
    cfg: Config, carried: Sequence[PoolEntry], own: Sequence[PoolEntry]
) -> tuple[list[PoolEntry], float]:
    """What a fit trains on beside `own`: the carried prior set in own units, and its weight
    now; nothing without priors or once the weight is negligible."""
    w = weight(cfg, len(own)) if carried else 0.0
    return (targets(cfg, carried, own), w) if w >= MIN_WEIGHT else ([], 0.0)


def gather(cfg: Config, refs: Sequence[str]) -> list[PoolEntry]:
    """The prior set of the pool files `refs` (checked; one-line errors name search.prior[i])."""
    return prior_set([(r, read_prior(cfg, r, f"search.prior[{i}]")) for i, r in enumerate(refs)])


def source_of(entries: list[PoolEntry]) -> tuple[str, list[PoolEntry]]:
    """A gathered prior file (steps.gather_prior) as (its URI, its entries)."""
    return str(entries[0].extra.get(SOURCE, "")), entries


def attach(prior: Sequence[PoolEntry], model_dir: Path) -> None:
    """Put the prior set into a (possibly empty) model folder."""
    write_pool(Path(model_dir) / PRIOR_FILE, prior)


def attached(model_dir: Path | None) -> list[PoolEntry]:
    """The prior set a model folder carries (none: [])."""
    if model_dir is None or not (Path(model_dir) / PRIOR_FILE).is_file():
        return []
    return read_pool(Path(model_dir) / PRIOR_FILE)


def carry(model_dir: Path | None, out_dir: Path) -> None:
    """A fit's output model carries its init model's prior set on to the next round."""
    if model_dir is not None and (Path(model_dir) / PRIOR_FILE).is_file():
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(model_dir) / PRIOR_FILE, Path(out_dir) / PRIOR_FILE)


def describe(prior: Sequence[PoolEntry]) -> str:
    """`file (n), file (m)`: which priors, and how many architectures each gave."""
    counts: dict[str, int] = {}
    for e in prior:
        for name in str(e.extra.get(SOURCE, "")).split(", "):
            counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} ({n})" for name, n in counts.items())
