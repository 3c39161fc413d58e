"""The train evaluator: train each child network (child.*) and score its dev accuracy.

A finished child is taken from the store's result cache (keyed by space, canonical id and the
child-training digest). A child with a checkpoint in the store resumes from it, and every
epoch's checkpoint is mirrored there, so a killed and retried task loses at most one epoch. A
child that raises is recorded as failed; the others go on.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nao_kfp import progress
from nao_kfp.config import Config
from nao_kfp.evaluators.base import Evaluator, Log, failed, ok
from nao_kfp.pool import PoolEntry


def child_digest(cfg: Config) -> str:
    """Result-cache key part: the child training recipe plus the seed it is trained with."""
    return f"{cfg.digest('child')}-s{cfg.search.seed}"


class TrainEvaluator(Evaluator):
    kind = "train"

    def prepare(self, out_dir: Path) -> dict[str, Any]:
        """Stage the data set once, so that children read it from `out_dir` and never download."""
        from nao_kfp.child import prepare_data as stage

        return {"data_dir": str(stage(self.cfg.child, Path(out_dir)))}

    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        from nao_kfp.child import train_child
        from nao_kfp.store import ChildCache, open_store

        log = log or print
        cfg = self.cfg
        digest = child_digest(cfg)  # before data_dir is pointed at the staged copy
        child_cfg = cfg.child
        if data_dir is not None:
            child_cfg = dataclasses.replace(child_cfg, data_dir=str(data_dir))
        store = open_store(cfg.cluster, Path(tempfile.gettempdir()) / "nao-store")
        done: list[PoolEntry] = []
        for i, e in enumerate(entries, start=1):
            cache = ChildCache(store, self.space.name, e.id, digest)
            result = cache.result()
            cached, resumed = result is not None, False
            if result is None:
                with tempfile.TemporaryDirectory(prefix="nao-child-") as tmp:
                    work = Path(tmp)
                    resumed = cache.restore(work / "checkpoint.pt")
                    try:
                        result = train_child(
                            self.space, e.arch, child_cfg, work, seed=cfg.search.seed,
                            on_checkpoint=cache.mirror(log=log), log=log,
                        )  # fmt: skip
                        cache.save_result(result)
                    except Exception as err:  # one bad child must not kill the shard
                        line = (str(err).splitlines() or [""])[0]
                        failed(e, f"{type(err).__name__}: {line}", resumed=resumed)
                        log(f"child {e.id} failed: {e.error}")
            if result is not None:
                extra = {k: v for k, v in result.items() if k != "dev_accuracy"}
                ok(e, result["dev_accuracy"], **extra, cached=cached, resumed=resumed)
            done.append(e)
            progress.emit(
                "child", round=round_index, shard=shard, done=i, total=len(entries),
                status=e.status, accuracy=e.accuracy, cached=cached, resumed=resumed,
            )  # fmt: skip
        return done
