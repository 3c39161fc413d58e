"""The train evaluator: train each child network (child.*) and score its dev accuracy.

A finished child is taken from the store's result cache (keyed by space, canonical id and the
child-training digest). A child with a checkpoint in the store resumes from it, and every
epoch's checkpoint is mirrored there, so a killed and retried task loses at most one epoch. A
child that raises (out of memory, a diverged loss, a crash) is trained again from its last
checkpoint up to child.retries times, then recorded as failed; the others go on. A store that
fails after its retries is not a child's failure: it fails the task, which KFP retries.

Children train in work directories under <tmp>/nao-work/<pid>-...; a killed task cannot remove
its own, so each task first removes those of processes that no longer run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from nao_kfp import faults, progress
from nao_kfp.config import Config
from nao_kfp.evaluators.base import Evaluator, Log, failed, ok
from nao_kfp.fanin import store_for
from nao_kfp.kinds import KINDS
from nao_kfp.pool import PoolEntry
from nao_kfp.store import ChildCache
from nao_kfp.store.base import StoreError


def child_digest(cfg: Config) -> str:
    """Result-cache key part: the child training recipe plus the seed it is trained with."""
    return f"{cfg.digest('child')}-s{cfg.search.seed}"


class TrainEvaluator(Evaluator):
    kind = KINDS["train"]

    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        from nao_kfp.child import runtime, train_child

        log = log or print
        cfg = self.cfg
        digest = child_digest(cfg)  # before data_dir is pointed at the staged copy
        child_cfg = cfg.child
        if data_dir is not None:
            child_cfg = dataclasses.replace(child_cfg, data_dir=str(data_dir))
        store = store_for(cfg)
        runtime.remove_stale_work_dirs()
        done: list[PoolEntry] = []
        for i, e in enumerate(entries, start=1):
            cache = ChildCache(store, self.space.name, e.id, digest)
            result = cache.result()
            cached, resumed, attempts = result is not None, False, 0
            while result is None and attempts <= child_cfg.retries:
                attempts += 1
                with runtime.work_dir() as work:
                    resumed = cache.restore(work / "checkpoint.pt") or resumed
                    try:
                        faults.hit("child-start")
                        result = train_child(
                            self.space, e.arch, child_cfg, work, seed=cfg.search.seed,
                            on_checkpoint=_mirror_then(cache.mirror()), log=log,
                        )  # fmt: skip
                    except StoreError:
                        raise  # the store, not the child: fail the task (KFP retries it)
                    except Exception as err:  # one bad child must not kill the shard
                        line = (str(err).splitlines() or [""])[0]
                        error = f"{type(err).__name__}: {line}"
                        left = child_cfg.retries - attempts + 1
                        log(f"child {e.id} failed ({error}); {left} retries left")
                        if left > 0:
                            progress.emit(
                                "child_retry", round=round_index, id=e.id, error=error, left=left
                            )
                        if left <= 0:
                            failed(e, error, resumed=resumed, attempts=attempts)
            if result is not None:
                if not cached:
                    cache.save_result(result)  # a StoreError here fails the task
                extra = {k: v for k, v in result.to_json().items() if k != "dev_accuracy"}
                ok(e, result.dev_accuracy, **extra, cached=cached, resumed=resumed)
                if attempts > 1:
                    e.extra["attempts"] = attempts
            done.append(e)
            progress.emit(
                "child", round=round_index, shard=shard, done=i, total=len(entries),
                status=e.status, accuracy=e.accuracy, cached=cached, resumed=resumed,
                metric=self.space.metric.name, vocab=e.integer("vocab"),
            )  # fmt: skip
        return done


def _mirror_then(mirror: Callable[[Path], None]) -> Callable[[Path], None]:
    def on_checkpoint(path: Path) -> None:
        mirror(path)
        faults.hit("child-epoch")  # a kill here loses nothing: the epoch is in the store

    return on_checkpoint
