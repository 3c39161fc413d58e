"""The final training (paper §4.1): the architecture the search found, trained at full size.

    rerank   (final.rerank_top > 1) train each of the search's top few with the final recipe for
             final.rerank_epochs and keep the best by dev accuracy (ties: the search's order)
    train    the winner with the full recipe of the `final:` section (N, F, epochs, cutout,
             auxiliary head, drop-path, ...), resuming per epoch from the store like any child
    export   the trained network as a stand-alone model (export.py) in work_dir/model
    publish  the model's files into the store (models/...) and, beside the model, the KServe
             InferenceService that serves them from there (inference-service.yaml, serve.py)

`rerank` is also the weight-sharing search's selection (NAO-WS retrains the supernet's top few
with the child recipe for supernet.rerank_epochs). Every run is a ChildCache entry keyed by the
canonical id and a digest of its recipe, so a re-run (or a retried pod) finds finished runs and
resumes an interrupted one from its last epoch. The dev set stays carved out of the training
images (child.dev_size) as during the search; the test accuracy is measured on the data set's
test images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from nao_kfp import progress
from nao_kfp.config import ChildConfig, Config
from nao_kfp.errors import NaoError
from nao_kfp.fanin import store_for
from nao_kfp.jsontypes import JSONObject
from nao_kfp.pool import PoolEntry
from nao_kfp.records import read_json, write_json
from nao_kfp.results import ChildResult, FinalOutcome, RerankEntry
from nao_kfp.spaces import Arch, SearchSpace, get_space
from nao_kfp.store import ChildCache, LocalStore, S3Store
from nao_kfp.store.safe import unwrap
from nao_kfp.units import pct

if TYPE_CHECKING:
    from nao_kfp.store import Store

Log = Callable[[str], None]
FINAL_JSON = "final.json"
MODEL_DIR = "model"
# the key of a re-ranked record that keeps what the cheap score said of it
ScoreKey = Literal["supernet_score", "proxy_score"]
MODELS_PREFIX = "models"  # store keys of exported final models: models/<space>/<recipe>/<arch id>/


class FinalError(NaoError):
    """The final training has nothing to train or a configuration it cannot use."""


def final_child_config(cfg: Config, *, epochs: int | None = None) -> ChildConfig:
    """cfg.child with the full-size recipe of cfg.final (epochs overridden for re-ranking)."""
    f = cfg.final
    return dataclasses.replace(
        cfg.child, layers=f.layers, channels=f.channels, epochs=epochs or f.epochs,
        batch_size=f.batch_size, lr_max=f.lr_max, lr_min=f.lr_min, weight_decay=f.weight_decay,
        grad_clip=f.grad_clip, cutout=f.cutout, aux_head=f.aux_head, aux_weight=f.aux_weight,
        drop_path=f.drop_path, dropout=f.dropout, train_subset=f.train_subset,
    )  # fmt: skip


def recipe_digest(child: ChildConfig, seed: int, what: str) -> str:
    """Store-key part of a final run: what it is, its recipe and its seed."""
    blob = json.dumps(dataclasses.asdict(child), sort_keys=True, separators=(",", ":"))
    return f"{what}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}-s{seed}"


def final_train(
    cfg: Config,
    archs: Sequence[Arch | str],
    work_dir: Path,
    *,
    seed: int,
    store: Store | None = None,
    data_dir: Path | None = None,
    log: Log | None = None,
) -> FinalOutcome:
    """Re-rank (when final.rerank_top > 1), train the winner at full size, export it.

    archs: the search's best architectures, best first (native strings or parsed). store: a
    nao_kfp.store.Store (default: a local one in work_dir/store). data_dir: the staged data set,
    as for train_children. Writes the model folder work_dir/model with final.json in it (its
    paths relative to the folder, so the folder can move) and returns that outcome resolved
    (read_final): arch, arch_id, test_accuracy, dev_accuracy, params (no auxiliary head), macs,
    epochs, seconds, rerank, model_dir, model, program, package (model.aoti.pt2, None when not
    compiled: final.aot_compile) and compile_seconds, load (the command that loads the model),
    storage_uri and inference_service (publish_model). The checkpoint stays in work_dir/train."""
    from nao_kfp.child.runtime import CHECKPOINT
    from nao_kfp.export import (
        INFO_FILE,
        MODEL_FILE,
        PACKAGE_FILE,
        PROGRAM_FILE,
        export_model,
        load_command,
    )  # fmt: skip

    work_dir = Path(work_dir)
    log = log or (lambda _msg: None)
    space = get_space(cfg.search.space)
    parsed = [space.parse(a) if isinstance(a, str) else a for a in archs]
    if not parsed:
        raise FinalError("final: no architecture to train (the search evaluated none)")
    store = store if store is not None else LocalStore(work_dir / "store")

    candidates = parsed[: cfg.final.rerank_top]
    winner, reranked = candidates[0], list[RerankEntry]()
    if len(candidates) > 1:
        short = final_child_config(cfg, epochs=cfg.final.rerank_epochs)
        reranked = rerank(space, candidates, short, work_dir / "rerank", seed=seed, store=store,
                          data_dir=data_dir, log=log, what="final")  # fmt: skip
        winner = candidates[best_of(reranked)]

    full = final_child_config(cfg)
    train_dir = work_dir / "train"
    log(f"final: training {space.canonical_id(winner)} for {full.epochs} epochs")
    run = _Runner(space, store, seed, data_dir, log)
    final_digest = recipe_digest(full, seed, "final")
    res = run(winner, full, final_digest, train_dir, keep_checkpoint=True)
    model_dir = work_dir / MODEL_DIR
    exported = export_model(
        train_dir / CHECKPOINT, model_dir, aot_compile=cfg.final.aot_compile, log=log
    )
    key = f"{MODELS_PREFIX}/{space.name}/{final_digest}/{space.canonical_id(winner)}"
    uri, isvc = publish_model(cfg, store, model_dir, key)
    out = FinalOutcome(
        arch=space.to_string(winner),
        arch_id=space.canonical_id(winner),
        test_accuracy=res.test_accuracy,
        dev_accuracy=res.dev_accuracy,
        params=res.params,
        macs=res.macs,
        epochs=res.epochs,
        seconds=res.seconds,
        rerank=reranked,
        model_dir=".",  # the paths: relative to final.json's folder, the model folder
        model=MODEL_FILE,
        program=PROGRAM_FILE,
        package=None if exported.package is None else PACKAGE_FILE,
        compile_seconds=exported.compile_seconds,
        load=load_command(Path(), read_json(model_dir / INFO_FILE)),
        storage_uri=uri,
        inference_service=isvc.name,
    )
    write_json(model_dir / FINAL_JSON, out.to_json())
    return out.resolved(model_dir)


def rerank(
    space: SearchSpace[Arch],
    archs: Sequence[Arch],
    recipe: ChildConfig,
    work_dir: Path,
    *,
    seed: int,
    store: Store,
    data_dir: Path | None = None,
    log: Log | None = None,
    what: str = "search",
) -> list[RerankEntry]:
    """Train each of `archs` (the search's best, best first) from scratch with `recipe` (its
    epochs: the short run) and return, in the same order, {arch, id, dev_accuracy,
    test_accuracy, params, macs} (the accuracies: the scores of the space's metric; a run whose
    loss diverged: dev_accuracy 0 and `diverged`, the reason); best_of picks the winner. Each
    run is cached and resumes per epoch from the store (keyed by the recipe's digest), so a
    re-run retrains nothing it finished."""
    from nao_kfp.child.runtime import ChildDiverged

    log = log or (lambda _msg: None)
    run = _Runner(space, store, seed, data_dir, log)
    digest = recipe_digest(recipe, seed, "rerank")
    out: list[RerankEntry] = []
    for i, arch in enumerate(archs, start=1):
        cid = space.canonical_id(arch)
        log(f"{what}: re-ranking {i}/{len(archs)} ({recipe.epochs} epochs)")
        try:
            res = run(arch, recipe, digest, Path(work_dir) / cid)
        except ChildDiverged as e:  # one diverging cell must not fail the whole selection
            log(f"{what}: {cid} diverged ({e}); it ranks last")
            res = ChildResult(dev_accuracy=0.0, diverged=str(e))
        out.append(
            RerankEntry(
                arch=space.to_string(arch), id=cid, dev_accuracy=res.dev_accuracy,
                test_accuracy=res.test_accuracy, params=res.params, macs=res.macs,
                diverged=res.diverged,
            )
        )  # fmt: skip
        progress.emit("rerank", what=what, done=i, total=len(archs), accuracy=res.dev_accuracy,
                      metric=space.metric.name, vocab=res.vocab)  # fmt: skip
    return out


def best_of(reranked: Sequence[RerankEntry]) -> int:
    """Index of the re-rank's winner: the best dev accuracy, ties to the search's order."""
    return max(range(len(reranked)), key=lambda i: (reranked[i].dev_accuracy or 0.0, -i))


def publish_model(cfg: Config, store: Store, model_dir: Path, key: str) -> tuple[str, Path]:
    """Put the exported model's files into the store under `key` (what KServe's storage
    initializer copies to /mnt/models) and write the InferenceService that serves them
    (serve.py) into model_dir. Returns its storage_uri (s3://bucket/... with cluster.s3_endpoint,
    else the local store's path) and the YAML's path."""

    from nao_kfp.export import INFO_FILE, MODEL_FILE, PACKAGE_FILE, PROGRAM_FILE
    from nao_kfp.serve import INFERENCE_SERVICE_FILE, inference_service

    for name in (MODEL_FILE, PROGRAM_FILE, PACKAGE_FILE, INFO_FILE):
        if name != PACKAGE_FILE or (model_dir / name).is_file():
            store.put_file(f"{key}/{name}", model_dir / name)
    inner = unwrap(store)
    if isinstance(inner, S3Store):
        uri = "s3://" + "/".join(p for p in (inner.bucket, inner.prefix, key) if p)
    elif isinstance(inner, LocalStore):
        uri = str((inner.root / key).resolve())
    else:
        raise FinalError(f"final: cannot name a URI for the model in {inner!r}")
    path = model_dir / INFERENCE_SERVICE_FILE
    path.write_text(yaml.safe_dump(inference_service(uri, cfg.cluster), sort_keys=False))
    return uri, path


@dataclasses.dataclass
class _Runner:
    """One cached, resumable training run: ChildCache result, else train_child resuming from
    the store's checkpoint and mirroring every epoch's."""

    space: SearchSpace[Arch]
    store: Store
    seed: int
    data_dir: Path | None
    log: Log

    def __call__(
        self,
        arch: Arch,
        child: ChildConfig,
        digest: str,
        out_dir: Path,
        *,
        keep_checkpoint: bool = False,
    ) -> ChildResult:
        from nao_kfp.child import train_child
        from nao_kfp.child.runtime import CHECKPOINT, write_result

        cache = ChildCache(self.store, self.space.name, self.space.canonical_id(arch), digest)
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt = out_dir / CHECKPOINT
        result = cache.result()
        if result is not None and (not keep_checkpoint or cache.restore(ckpt)):
            write_result(out_dir, result)  # beside the checkpoint, for the export's metrics
            return result
        cache.restore(ckpt)  # an interrupted run goes on from its last epoch
        if self.data_dir is not None:
            child = dataclasses.replace(child, data_dir=str(self.data_dir))
        result = train_child(
            self.space, arch, child, out_dir, seed=self.seed,
            on_checkpoint=cache.mirror(log=self.log), log=self.log,
        )  # fmt: skip
        cache.save_result(result)
        return result


def read_final(model_dir: Path) -> FinalOutcome | None:
    """The final.json of a finished final training in its model folder, checked, its paths
    resolved against the folder; None when there is none."""

    path = Path(model_dir) / FINAL_JSON
    if not path.is_file():
        return None
    doc = read_json(path)
    if isinstance(doc, dict) and "checkpoint" in doc:
        # written before final.json named its files relative to its folder: its paths are
        # absolute (resolved() keeps them) and its checkpoint pointed into a task's temp folder
        doc = {k: v for k, v in doc.items() if k != "checkpoint"}
    return FinalOutcome.from_json(doc, str(path)).resolved(path.parent)


def final_summary(final: FinalOutcome) -> str:
    """Two lines for the end of `nao search`: where the model is, and how to load it."""
    parts = []
    test_accuracy, params, macs = final.test_accuracy, final.params, final.macs
    if test_accuracy is not None:
        parts.append(f"test accuracy {pct(test_accuracy)}")
    if params is not None:
        parts.append(f"{params / 1e6:.2f}M params")
    if macs is not None:
        parts.append(f"{macs / 1e6:.1f}M multiply-adds")
    return f"final model: {final.model_dir} ({', '.join(parts)})\nload it: {final.load}"


def _scored(rec: RerankEntry, key: ScoreKey, score: float | None) -> RerankEntry:
    if key == "supernet_score":
        return dataclasses.replace(rec, supernet_score=score)
    return dataclasses.replace(rec, proxy_score=score)


def rerank_select(
    cfg: Config,
    ranked: Sequence[PoolEntry],
    top_n: int,
    epochs: int,
    *,
    data_dir: Path | None,
    log: Log | None,
    score_key: ScoreKey,
) -> tuple[PoolEntry, list[RerankEntry]]:
    """An evaluator's selection by re-ranking (NAO-WS's, the proxy evaluator's): the best
    `top_n` of `ranked` (by a cheap score) retrained from scratch (the child recipe, `epochs`)
    and the best of them by that dev score; the cheap score is kept as score_key. With fewer
    than two, the best-scored wins as it is."""
    from nao_kfp.child.runtime import work_dir

    top = list(ranked[:top_n])
    if len(top) < 2:
        return ranked[0], []
    recipe = dataclasses.replace(cfg.child, epochs=epochs)
    with work_dir() as tmp:
        records = rerank(
            get_space(cfg.search.space), [e.arch for e in top], recipe, tmp,
            seed=cfg.search.seed, store=store_for(cfg), data_dir=data_dir, log=log, what="select",
        )  # fmt: skip
    records = [_scored(rec, score_key, e.accuracy) for rec, e in zip(records, top, strict=True)]
    best = best_of(records)
    win, rec = top[best], records[best]
    measured = {"test_accuracy": rec.test_accuracy, "params": rec.params, "macs": rec.macs}
    trained: JSONObject = {k: v for k, v in measured.items() if v is not None}
    extra: JSONObject = {**win.extra, **trained, score_key: win.accuracy}
    return dataclasses.replace(win, accuracy=rec.dev_accuracy, extra=extra), records
