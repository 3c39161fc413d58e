"""One plain function per step of Algorithm 1: config + input paths in, files + metrics out.

Round r (1..L) of the search:
    train_children  evaluate the pending architectures of the pool, one shard per task
    merge           fan the shard results into the pool; record the round in the history
    fit             train encoder / predictor / decoder on every evaluated architecture
    optimize        move the embeddings of the top-K architectures uphill on the predictor
    decode          decode them into new architectures: the pending entries of round r + 1
The last round stops after merge (decoded architectures would never be evaluated). Round 1's
pending entries come from `sample`; outcome.py closes the search (select_best, final,
conclude: result.json, report).

With the supernet evaluator (NAO-WS, `shares_weights`) one task evaluates a round instead of
the shards and the merge: `supernet_round` trains the shared weights to the round's epoch of
supernet.schedule() on the pool and re-scores the whole pool with them. The evaluator also picks
the winner (Evaluator.select: NAO-WS re-ranks its top few by a short training from scratch).

What a round decides (seeds, epochs, top-K, how many to propose, early stop) comes from
rounds.py; how an architecture is scored from the evaluator (evaluators/, `evaluator.kind`).
A pool file holds every architecture seen so far (pool.py); the history file holds the
per-round records (records.py). Every step is deterministic given the config, the seed and the
round; a step that finds its finished output returns it instead of redoing the work.
"""

from __future__ import annotations

import shutil
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nao_kfp import fanin, faults, progress, rounds
from nao_kfp import prior as priors
from nao_kfp.config import Config
from nao_kfp.errors import ConfigError, NaoError
from nao_kfp.evaluators import Evaluator, make_evaluator
from nao_kfp.evaluators.proxy import proxy_seed
from nao_kfp.evaluators.supernet import CHECKPOINT, SupernetEvaluator
from nao_kfp.jsontypes import Metrics
from nao_kfp.kinds import kind_of, metric_for
from nao_kfp.pool import PoolEntry, entry, evaluated, read_pool, write_pool
from nao_kfp.records import (
    History,
    RoundRecord,
    read_history,
    read_json,
    write_json,
    write_record,
)
from nao_kfp.spaces import Arch, get_space

# Heavy imports (torch via controller/child, minio via store) happen inside the steps, so that
# building and compiling the pipeline stays fast.

Log = Callable[[str], None]
FIT_METRICS = "fit_metrics.json"


class SearchFailed(NaoError):
    """A round, or the whole search, evaluated no architecture successfully."""


def _mean(xs: Sequence[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


# ---------------------------------------------------------------- data and round 1


def prepare_data(
    cfg: Config, out_dir: Path, *, evaluator: Evaluator | None = None
) -> dict[str, str]:
    """Stage what the evaluator reads (the data set) once, so children never download."""
    staged = (evaluator or make_evaluator(cfg)).prepare(Path(out_dir))
    if staged.get("data_dir"):
        progress.emit("data", dataset=cfg.child.dataset)
    return staged


def sample(
    cfg: Config,
    out_pool: Path,
    out_history: Path,
    *,
    evaluator: Evaluator | None = None,
    first: Sequence[Arch] = (),
) -> Metrics:
    """Round 1's pool: search.initial_archs distinct architectures, all pending: `first` (the
    priors' best, source `prior`; the evaluator's stand-in where it cannot score one), then
    up to search.proxy_seed chosen by zero-cost proxies (source `proxy`), then random ones."""
    if Path(out_pool).exists() and Path(out_history).exists():  # finished before: resume
        return {"count": len(read_pool(out_pool))}
    ev = evaluator or make_evaluator(cfg)
    rng, accept = rounds.rng_for(cfg, "sample"), ev.budget()
    chosen: list[PoolEntry] = []
    known: set[str] = set()
    for arch in first:
        got = ev.substitute(arch, known, rng)
        if got is not None and (accept is None or accept(got)):
            chosen.append(entry(ev.space, got, round=1, source="prior"))
            known.add(chosen[-1].id)
    proxied = min(cfg.search.proxy_seed, cfg.search.initial_archs - len(chosen))
    if proxied > 0:
        pool_rng = rounds.rng_for(cfg, "proxy-seed")
        candidates = ev.sample(cfg.search.proxy_pool, pool_rng, known, accept)
        for arch in proxy_seed(cfg, candidates, proxied):
            chosen.append(entry(ev.space, arch, round=1, source="proxy"))
            known.add(chosen[-1].id)
        progress.emit("proxy_seed", round=1, archs=proxied, pool=len(candidates))
    archs = ev.sample(cfg.search.initial_archs - len(chosen), rng, known, accept)
    chosen += [entry(ev.space, a, round=1, source="random") for a in archs]
    if len(chosen) < cfg.search.initial_archs:
        raise ConfigError(
            f"search.initial_archs: {cfg.search.initial_archs} requested but the "
            f"{ev.kind.name} evaluator can score only {len(chosen)} architectures"
        )
    write_pool(out_pool, chosen)
    write_record(out_history, History())
    sources = [e.source for e in chosen]
    how = ", ".join(f"{sources.count(s)} {SAMPLED[s]}" for s in dict.fromkeys(sources))
    progress.emit("sample", round=1, archs=len(chosen), how=how)
    return {"count": len(chosen)}


SAMPLED = {"random": "drawn at random", "proxy": "picked by zero-cost proxies",
           "prior": "earlier searches' best"}  # fmt: skip


def gather_prior(
    cfg: Config, index: int, uri: str, local: Path, out: Path, *, earlier: Path | None = None
) -> Metrics:
    """One imported prior (the pipeline's importer of search.prior[index]) checked and added
    to the folder of the earlier ones: `<index>.jsonl` per prior, the evaluated entries."""
    out = Path(out)
    if earlier is not None:
        shutil.copytree(earlier, out, dirs_exist_ok=True)
    entries = priors.read_prior(cfg, uri, f"search.prior[{index}]", local)
    out.mkdir(parents=True, exist_ok=True)
    for e in entries:
        e.extra[priors.SOURCE] = uri
    write_pool(out / f"{index}.jsonl", entries)
    return {"archs": len(entries)}


def sample_with_prior(
    cfg: Config,
    out_pool: Path,
    out_history: Path,
    out_model: Path,
    *,
    gathered: Path | None = None,
    evaluator: Evaluator | None = None,
) -> Metrics:
    """Round 1 of a search with priors (search.prior): the prior set (prior.py) attached to the
    empty init model, so every fit trains on it, and round 1's pool, whose first
    search.prior_seed architectures are the priors' best. `gathered`: gather_prior's folder
    (the pipeline's imported priors); else search.prior is read as it is."""
    if gathered is None:
        chosen = priors.gather(cfg, cfg.search.prior)
    else:
        files = sorted(Path(gathered).glob("*.jsonl"), key=lambda p: int(p.stem))
        chosen = priors.prior_set([priors.source_of(read_pool(f)) for f in files])
    Path(out_model).mkdir(parents=True, exist_ok=True)
    priors.attach(chosen, Path(out_model))
    first = priors.best(chosen, cfg.search.prior_seed)
    done = sample(cfg, out_pool, out_history, evaluator=evaluator, first=first)
    progress.emit("prior", archs=len(chosen), sources=len(cfg.search.prior))
    return {**done, "prior_archs": len(chosen), "prior": priors.describe(chosen)}


# ---------------------------------------------------------------- evaluating children


def shard_entries(pool: Sequence[PoolEntry], shard: int, num_shards: int) -> list[PoolEntry]:
    """The pending entries of one shard: canonical-id order, every num_shards-th entry."""
    pending = sorted((e for e in pool if e.status == "pending"), key=lambda e: e.id)
    return pending[shard::num_shards]


def train_children(
    cfg: Config,
    pool_path: Path,
    shard: int,
    num_shards: int,
    data_dir: Path | None,
    out: Path,
    *,
    round_index: int = 0,
    evaluator: Evaluator | None = None,
    log: Log | None = None,
) -> Metrics:
    """Evaluate the pending architectures of one shard; write them (now ok or failed) to `out`
    (and, with search.fan_in: store, to the result store, where merge reads them: fanin.py)."""
    if Path(out).exists():  # this shard finished before (e.g. a retried task): nothing to do
        done = read_pool(out)
    else:
        todo = shard_entries(read_pool(pool_path), shard, num_shards)
        ev = evaluator or make_evaluator(cfg)
        done = ev.evaluate(todo, data_dir=data_dir, round_index=round_index, shard=shard, log=log)
        write_pool(out, done)
    if cfg.search.fan_in == "store":
        fanin.put_shard(cfg, pool_path, round_index, shard, num_shards, Path(out))
    return _shard_summary(done)


def _shard_summary(done: list[PoolEntry]) -> Metrics:
    ok = evaluated(done)
    return {
        "evaluated": len(ok),
        "failed": len(done) - len(ok),
        "cached": sum(1 for e in done if e.extra.get("cached")),
    }


def merge(
    cfg: Config,
    round_index: int,
    pool_path: Path,
    shard_results: Sequence[Path],
    history_path: Path,
    out_pool: Path,
    out_history: Path,
    *,
    model: Path | None = None,
) -> RoundRecord:
    """Fan in: replace the pool's pending entries by their shard results; append the round's
    record (accuracies, and for decoded architectures the predictor's view of them and the
    metrics of `model`, the fit that proposed them)."""
    results = {e.id: e for p in shard_results for e in read_pool(p)}
    pool = []
    for e in read_pool(pool_path):
        if e.status == "pending":
            done = results.get(e.id)
            if done is None:
                e.status, e.error = "failed", "no shard returned a result"
            else:
                e = done
        pool.append(e)
    new = [e for e in pool if e.round == round_index]
    if new and not evaluated(new):
        bad = [e for e in new if e.status == "failed"]
        why = f"; first error: {bad[0].error}" if bad else ""
        raise SearchFailed(
            f"round {round_index}: all {len(new)} architectures failed to evaluate{why}"
        )
    faults.hit("merge")
    write_pool(out_pool, pool)

    return record_round(cfg, round_index, pool, history_path, out_history, model=model)


def fit_metrics(model: Path | None) -> Metrics:
    """What the fit that made `model` measured (FIT_METRICS); {} for an empty model (round 1's
    init model: no fit proposed round 1's architectures)."""
    path = Path(model) / FIT_METRICS if model is not None else None
    return dict(read_json(path)) if path is not None and path.is_file() else {}


def record_round(
    cfg: Config,
    round_index: int,
    pool: Sequence[PoolEntry],
    history_path: Path,
    out_history: Path,
    *,
    model: Path | None = None,
    **extra: Any,
) -> RoundRecord:
    """Append the round's record to the history: its children's accuracies and, for proposed
    architectures, the predictor's view of them and the metrics of the fit that proposed them
    (`model`'s); extra: more RoundRecord fields. The one writer of a round's record."""
    new = [e for e in pool if e.round == round_index]
    history = read_history(history_path)
    ok = evaluated(new)
    accs = [e.accuracy for e in ok if e.accuracy is not None]
    before = max((h.best_so_far for h in history.rounds if h.best_so_far is not None), default=None)
    best_so_far = max((e.accuracy for e in evaluated(pool) if e.accuracy is not None), default=None)
    proposed = [e for e in ok if e.predicted is not None]
    pred = [float(e.predicted) for e in proposed if e.predicted is not None]
    real = [float(e.accuracy) for e in proposed if e.accuracy is not None]
    record = RoundRecord(
        round=round_index,
        evaluated=len(ok),
        failed=len(new) - len(ok),
        cached=sum(1 for e in ok if e.extra.get("cached")),
        best_accuracy=max(accs, default=None),
        mean_accuracy=_mean(accs),
        best_so_far=best_so_far,
        improved=best_so_far is not None and (before is None or best_so_far > before),
        proposed=len(proposed),
        predicted_mean=_mean(pred),
        real_mean=_mean(real),
        pairwise_accuracy=_pairwise(pred, real),
        fit=fit_metrics(model),
        **extra,
    )
    history.rounds.append(record)
    write_record(out_history, history)
    metric = metric_for(cfg).with_vocab(ok)  # how a person watching reads the scores
    progress.emit(
        "round", round=round_index, best=record.best_accuracy, evaluated=record.evaluated,
        mean=record.mean_accuracy, best_so_far=record.best_so_far, metric=metric.name,
        vocab=metric.vocab,
    )  # fmt: skip
    return record


def shares_weights(cfg: Config) -> bool:
    """NAO-WS: a round is one supernet task (supernet_round), not shards and a merge."""
    return kind_of(cfg).shares_weights


def supernet_round(
    cfg: Config,
    round_index: int,
    pool_path: Path,
    history_path: Path,
    supernet_in: Path | None,
    data_dir: Path | None,
    out_pool: Path,
    out_history: Path,
    supernet_out: Path,
    *,
    model: Path | None = None,
    log: Log | None = None,
) -> RoundRecord:
    """NAO-WS round r: train the supernet (from `supernet_in`) to epoch schedule[r-1] on the
    pool's architectures, re-score the whole pool with it, record the round (with the
    supernet's numbers and `model`'s fit); the trained supernet goes to `supernet_out`."""

    supernet_out = Path(supernet_out)
    supernet_out.mkdir(parents=True, exist_ok=True)
    if supernet_in is not None and (Path(supernet_in) / CHECKPOINT).is_file():
        shutil.copyfile(Path(supernet_in) / CHECKPOINT, supernet_out / CHECKPOINT)
    ev = SupernetEvaluator(cfg, supernet_out)
    ev.round_index = round_index
    pool = read_pool(pool_path)
    epochs_to = cfg.supernet.schedule()[round_index - 1]
    trained = ev.train_to(epochs_to, [e.arch for e in pool], data_dir=data_dir, log=log)
    scored = ev.evaluate(pool, data_dir=data_dir, round_index=round_index)
    for snap in supernet_out.glob("supernet-epoch*.pt"):  # the checkpoint holds the same weights
        snap.unlink()
    write_pool(out_pool, scored)
    last = trained["history"][-1] if trained.get("history") else {}
    summary = {"epoch": epochs_to, **{k: v for k, v in last.items() if k != "epoch"}}
    summary["seconds"] = trained.get("seconds")
    return record_round(
        cfg, round_index, scored, history_path, out_history, model=model, supernet=summary
    )


def _pairwise(pred: Sequence[float], real: Sequence[float]) -> float | None:
    if len(pred) < 2:
        return None
    from nao_kfp.controller import pairwise_accuracy

    return float(pairwise_accuracy(pred, real))


# ---------------------------------------------------------------- the controller


def has_model(path: Path | None) -> bool:
    """An init-model artifact may be empty: round 1's fit has no model to start from."""
    from nao_kfp.controller.nao import WEIGHTS

    return path is not None and (Path(path) / WEIGHTS).exists()


def fit(
    cfg: Config,
    round_index: int,
    pool_path: Path,
    out_model: Path,
    *,
    init_model: Path | None = None,
    log: Log | None = None,
) -> Metrics:
    """Train the NAO model on every evaluated architecture, warm-started from `init_model` when
    it holds a model (an empty one means a cold start)."""
    from nao_kfp import controller

    out_model = Path(out_model)
    if (out_model / FIT_METRICS).exists():  # finished before: resume means skip
        return dict(read_json(out_model / FIT_METRICS))
    pool = read_pool(pool_path)
    warm = has_model(init_model)
    if not rounds.needs_fit(pool, round_index, warm=warm):
        shutil.copytree(Path(init_model or ""), out_model, dirs_exist_ok=True)
        return dict(read_json(out_model / FIT_METRICS))
    init = controller.NAOModel.load(Path(init_model or "")) if warm else None
    own = evaluated(pool)
    carried = priors.attached(init_model)  # the prior set (search.prior) round 1 brought
    prior, prior_weight = priors.for_fit(cfg, carried, own)
    model, metrics = controller.fit(
        get_space(cfg.search.space), own, rounds.fit_settings(cfg, warm=warm),
        seed=rounds.seed_for(cfg.search.seed, "fit", round_index), init=init, log=log,
        prior=prior, prior_weight=prior_weight,
    )  # fmt: skip
    faults.hit("fit")
    model.save(out_model)
    if carried:
        priors.carry(init_model, out_model)
        metrics.update(
            prior=priors.describe(carried), prior_weight=prior_weight, prior_archs=len(prior)
        )
    metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}
    write_json(out_model / FIT_METRICS, metrics)
    progress.emit("fit", round=round_index, **{k: metrics.get(k) for k in ("n_train", "seconds")})
    return metrics


def optimize(cfg: Config, model_dir: Path, pool_path: Path, out: Path) -> Metrics:
    """Embeddings of the top-K evaluated architectures, moved along the predictor's gradient."""
    from nao_kfp import controller

    model = controller.NAOModel.load(Path(model_dir))
    pool = read_pool(pool_path)
    k = rounds.top_k(cfg, pool)
    emb = controller.optimize_embeddings(model, evaluated(pool), top_k=k)
    emb.save(Path(out))
    return {"top_k": k}


def decode(
    cfg: Config,
    round_index: int,
    model_dir: Path,
    embeddings: Path,
    pool_path: Path,
    history_path: Path,
    out_pool: Path,
    *,
    evaluator: Evaluator | None = None,
) -> Metrics:
    """New architectures for round r + 1 (never one already in the pool), appended as pending;
    none after a round without improvement (search.early_stop: the history says). Writes only
    the pool: round r + 1's record (merge) records the fit that proposed them."""
    from nao_kfp import controller

    pool = read_pool(pool_path)
    stop = rounds.should_stop(cfg, read_history(history_path).rounds)
    new: list[PoolEntry] = []
    if stop:
        progress.emit("stop", round=round_index)
    elif rounds.wanted(cfg, pool) > 0:
        model = controller.NAOModel.load(Path(model_dir))
        emb = controller.Embeddings.load(Path(embeddings))
        new = rounds.propose(cfg, model, emb, pool, evaluator or make_evaluator(cfg), round_index)
    faults.hit("decode")
    write_pool(out_pool, pool + new)
    progress.emit("decode", round=round_index, next=round_index + 1, count=len(new))
    return {"new_archs": len(new), "stopped": stop}
