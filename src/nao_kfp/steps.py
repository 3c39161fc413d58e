"""One plain function per step of Algorithm 1: config + input paths in, files + metrics out.

Round r (1..L) of the search:
    train_children  evaluate the pending architectures of the pool, one shard per task
    merge           fan the shard results into the pool; record the round in the history
    fit             train encoder / predictor / decoder on every evaluated architecture
    optimize        move the embeddings of the top-K architectures uphill on the predictor
    decode          decode them into new architectures: the pending entries of round r + 1
The last round stops after merge (decoded architectures would never be evaluated). Round 1's
pending entries come from `sample`; `select_best` and `report` close the search.

A pool file holds every architecture seen so far (pool.py); the history file is a JSON list of
per-round records. Every step is deterministic given the config, the seed and the round, and
finished children live in the store's result cache, so a re-run never retrains them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
import statistics
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nao_kfp import progress
from nao_kfp.config import Config
from nao_kfp.pool import PoolEntry, entry, evaluated, read_pool, write_pool
from nao_kfp.spaces import get_space

# Heavy imports (torch via controller/child, minio via store) happen inside the steps, so that
# building and compiling the pipeline stays fast.

Log = Callable[[str], None]
FIT_METRICS = "fit_metrics.json"


def derive_seed(seed: int, what: str, round_index: int = 0) -> int:
    """A per-step seed: stable across runs and platforms (unlike hash())."""
    digest = hashlib.sha256(f"{seed}:{what}:{round_index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def child_digest(cfg: Config) -> str:
    """Result-cache key part: the child training recipe plus the seed it is trained with."""
    return f"{cfg.digest('child')}-s{cfg.search.seed}"


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_json(path: Path, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def _mean(xs: Sequence[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


# ---------------------------------------------------------------- data and round 1


def prepare_data(cfg: Config, out_dir: Path) -> dict[str, Any]:
    """Stage the data set once, so that children read it from `out_dir` and never download."""
    from nao_kfp.child import prepare_data as stage

    path = stage(cfg.child, Path(out_dir))
    return {"data_dir": str(path)}


def sample(cfg: Config, out_pool: Path, out_history: Path) -> dict[str, Any]:
    """Round 1's pool: search.initial_archs distinct random architectures, all pending."""
    space = get_space(cfg.search.space)
    rng = random.Random(derive_seed(cfg.search.seed, "sample"))
    archs = space.sample_unique(cfg.search.initial_archs, rng)
    write_pool(out_pool, [entry(space, a, round=1, source="random") for a in archs])
    write_json(out_history, [])
    return {"count": len(archs)}


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
    log: Log | None = None,
) -> dict[str, Any]:
    """Evaluate the pending architectures of one shard; write them (now ok or failed) to `out`.

    A finished child is taken from the store's result cache. A child with a checkpoint in the
    store resumes from it, and every epoch's checkpoint is mirrored there, so a killed and
    retried task loses at most one epoch. A child that raises is recorded as failed."""
    from nao_kfp.child import train_child
    from nao_kfp.store import ChildCache, open_store

    log = log or print
    if Path(out).exists():  # this shard finished before (e.g. a retried task): nothing to do
        return _shard_summary(read_pool(out))
    space = get_space(cfg.search.space)
    todo = shard_entries(read_pool(pool_path), shard, num_shards)
    digest = child_digest(cfg)  # before data_dir is pointed at the staged copy
    child_cfg = cfg.child
    if data_dir is not None:
        child_cfg = dataclasses.replace(child_cfg, data_dir=str(data_dir))
    store = open_store(cfg.cluster, Path(tempfile.gettempdir()) / "nao-store")
    done: list[PoolEntry] = []
    for i, e in enumerate(todo, start=1):
        cache = ChildCache(store, space.name, e.id, digest)
        result = cache.result()
        cached, resumed = result is not None, False
        if result is None:
            with tempfile.TemporaryDirectory(prefix="nao-child-") as tmp:
                work = Path(tmp)
                resumed = cache.restore(work / "checkpoint.pt")
                try:
                    result = train_child(
                        space, e.arch, child_cfg, work, seed=cfg.search.seed,
                        on_checkpoint=cache.mirror(log=log), log=log,
                    )  # fmt: skip
                    cache.save_result(result)
                except Exception as err:  # one bad child must not kill the shard
                    line = (str(err).splitlines() or [""])[0]
                    e.status, e.accuracy = "failed", None
                    e.extra.update(error=f"{type(err).__name__}: {line}", resumed=resumed)
                    log(f"child {e.id} failed: {e.extra['error']}")
        if result is not None:
            e.status, e.accuracy = "ok", float(result["dev_accuracy"])
            e.extra.update({k: v for k, v in result.items() if k != "dev_accuracy"})
            e.extra.update(cached=cached, resumed=resumed)
        done.append(e)
        progress.emit(
            "child", round=round_index, shard=shard, done=i, total=len(todo), status=e.status,
            accuracy=e.accuracy, cached=cached, resumed=resumed,
        )  # fmt: skip
    write_pool(out, done)
    return _shard_summary(done)


def _shard_summary(done: list[PoolEntry]) -> dict[str, Any]:
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
) -> dict[str, Any]:
    """Fan in: replace the pool's pending entries by their shard results; append the round's
    record (accuracies, and for decoded architectures the predictor's view of them)."""
    results = {e.id: e for p in shard_results for e in read_pool(p)}
    pool = []
    for e in read_pool(pool_path):
        if e.status == "pending":
            e = results.get(e.id) or dataclasses.replace(
                e, status="failed", extra={**e.extra, "error": "no shard returned a result"}
            )
        pool.append(e)
    write_pool(out_pool, pool)

    history: list[dict[str, Any]] = read_json(history_path)
    new = [e for e in pool if e.extra.get("round") == round_index]
    ok = evaluated(new)
    accs = [e.accuracy for e in ok if e.accuracy is not None]
    before = max((h["best_so_far"] for h in history if h["best_so_far"] is not None), default=None)
    all_ok = [e.accuracy for e in evaluated(pool) if e.accuracy is not None]
    best_so_far = max(all_ok, default=None)
    proposed = [e for e in ok if e.extra.get("predicted_after") is not None]
    pred = [float(e.extra["predicted_after"]) for e in proposed]
    real = [float(e.accuracy) for e in proposed if e.accuracy is not None]
    prev_fit = history[-1].get("fit", {}) if history else {}
    record = {
        "round": round_index,
        "evaluated": len(ok),
        "failed": len(new) - len(ok),
        "cached": sum(1 for e in ok if e.extra.get("cached")),
        "best_accuracy": max(accs, default=None),
        "mean_accuracy": _mean(accs),
        "best_so_far": best_so_far,
        "improved": best_so_far is not None and (before is None or best_so_far > before),
        "proposed": len(proposed),
        "predicted_mean": _mean(pred),
        "real_mean": _mean(real),
        "pairwise_accuracy": _pairwise(pred, real),
        # the decoder that proposed this round's architectures was fitted in the round before
        "hamming": prev_fit.get("hamming"),
    }
    history.append(record)
    write_json(out_history, history)
    progress.emit("round", round=round_index, best=record["best_accuracy"], **{
        k: record[k] for k in ("evaluated", "best_so_far")
    })  # fmt: skip
    return record


def _pairwise(pred: Sequence[float], real: Sequence[float]) -> float | None:
    if len(pred) < 2:
        return None
    from nao_kfp.controller import pairwise_accuracy

    return float(pairwise_accuracy(pred, real))


# ---------------------------------------------------------------- the controller


def fit(
    cfg: Config,
    round_index: int,
    pool_path: Path,
    out_model: Path,
    *,
    init_model: Path | None = None,
    log: Log | None = None,
) -> dict[str, Any]:
    """Train the NAO model on every evaluated architecture, warm-started from the last round's."""
    from nao_kfp import controller

    out_model = Path(out_model)
    if (out_model / FIT_METRICS).exists():  # finished before: resume means skip
        return dict(read_json(out_model / FIT_METRICS))
    pool = read_pool(pool_path)
    train = evaluated(pool)
    init = controller.NAOModel.load(Path(init_model)) if init_model else None
    fresh = [e for e in train if e.extra.get("round") == round_index]
    if init is not None and not fresh and cfg.search.early_stop:
        # nothing new to learn from (the search stopped early): keep the previous model
        shutil.copytree(Path(init_model or ""), out_model, dirs_exist_ok=True)
        return dict(read_json(out_model / FIT_METRICS))
    model, metrics = controller.fit(
        get_space(cfg.search.space), train, cfg.controller,
        seed=derive_seed(cfg.search.seed, "fit", round_index), init=init, log=log,
    )  # fmt: skip
    model.save(out_model)
    metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))}
    write_json(out_model / FIT_METRICS, metrics)
    progress.emit("fit", round=round_index, **{k: metrics.get(k) for k in ("n_train", "seconds")})
    return metrics


def optimize(cfg: Config, model_dir: Path, pool_path: Path, out: Path) -> dict[str, Any]:
    """Embeddings of the top-K evaluated architectures, moved along the predictor's gradient."""
    from nao_kfp import controller

    model = controller.NAOModel.load(Path(model_dir))
    emb = controller.optimize_embeddings(
        model, evaluated(read_pool(pool_path)), top_k=cfg.search.top_k
    )
    emb.save(Path(out))
    return {"top_k": cfg.search.top_k}


def decode(
    cfg: Config,
    round_index: int,
    model_dir: Path,
    embeddings: Path,
    pool_path: Path,
    history_path: Path,
    out_pool: Path,
    out_history: Path,
) -> dict[str, Any]:
    """New architectures for round r + 1 (never one already in the pool), appended as pending."""
    from nao_kfp import controller

    pool = read_pool(pool_path)
    history: list[dict[str, Any]] = read_json(history_path)
    fit_metrics = read_json(Path(model_dir) / FIT_METRICS)
    stop = cfg.search.early_stop and bool(history) and not history[-1]["improved"]
    new: list[PoolEntry] = []
    if stop:
        progress.emit("stop", round=round_index)
    else:
        model = controller.NAOModel.load(Path(model_dir))
        emb = controller.Embeddings.load(Path(embeddings))
        s = cfg.search
        new = controller.decode_new(
            model, emb, count=s.new_archs, eta=s.eta, eta_growth=s.eta_growth, eta_max=s.eta_max,
            known_ids={e.id for e in pool},
        )  # fmt: skip
        for e in new:
            e.extra["round"] = round_index + 1
    write_pool(out_pool, pool + new)
    if history:
        history[-1]["fit"] = fit_metrics
        history[-1]["new_archs"] = len(new)
        history[-1]["stopped"] = stop
    write_json(out_history, history)
    progress.emit("decode", round=round_index, next=round_index + 1, count=len(new))
    return {"new_archs": len(new), "stopped": stop, **{k: fit_metrics.get(k) for k in ("hamming",)}}


# ---------------------------------------------------------------- the outcome


def select_best(cfg: Config, pool_path: Path, history_path: Path, out: Path) -> dict[str, Any]:
    """result.json: the best architecture and its dev accuracy, and the per-round records."""
    pool = read_pool(pool_path)
    ok = evaluated(pool)
    # ties broken by id, so the choice does not depend on the pool's order
    best = max(ok, key=lambda e: (e.accuracy, e.id), default=None) if ok else None
    space = get_space(cfg.search.space)
    result: dict[str, Any] = {
        "name": cfg.name,
        "space": space.name,
        "evaluated": len(ok),
        "failed": sum(1 for e in pool if e.status == "failed"),
        "rounds": read_json(history_path),
        "best": None,
    }
    if best is not None:
        result["best"] = {
            "arch": best.arch_str,
            "id": best.id,
            "dev_accuracy": best.accuracy,
            "round": best.extra.get("round"),
            "source": best.extra.get("source"),
            "params": best.extra.get("params"),
            "describe": space.describe(best.arch),
        }
    write_json(out, result)
    return result


def report(
    cfg: Config, result_path: Path, pool_path: Path, out_dir: Path, *, inline: bool = False
) -> dict[str, Any]:
    """report.md / report.html with the accuracy plot and the best cells (report.py)."""
    from nao_kfp.report import write_report

    paths = write_report(read_json(result_path), read_pool(pool_path), Path(out_dir), inline=inline)
    return {k: str(v) for k, v in paths.items()}
