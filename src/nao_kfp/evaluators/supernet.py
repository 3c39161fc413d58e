"""The supernet evaluator (NAO-WS, paper §3.4): architectures scored with shared weights.

One supernet holds the weights of every choice of the space (child/supernet.py). A search
trains it round by round on the architectures of its pool (each minibatch trains one of them),
and an architecture's score is its accuracy on fixed dev batches with the shared weights
(child/supernet_train.py, `supernet.bn` for the BatchNorm statistics). So evaluating costs a few
forward passes, and every round re-scores the whole pool with the newer weights.

The supernet's checkpoint lives in a work directory (the pipeline passes it from round to round
as a Model artifact) and is mirrored to the store every epoch, so a preempted round resumes
from its last epoch.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nao_kfp.config import Config
from nao_kfp.evaluators.base import Evaluator, Log, ok
from nao_kfp.evaluators.train import TrainEvaluator
from nao_kfp.pool import PoolEntry

CHECKPOINT = "checkpoint.pt"


class SupernetEvaluator(Evaluator):
    kind = "supernet"

    def __init__(self, cfg: Config, work_dir: Path | None = None):
        super().__init__(cfg)
        self.work_dir = Path(work_dir) if work_dir else None
        self.epoch: int | None = None  # the weights that score: train_to's last epochs_to

    def prepare(self, out_dir: Path) -> dict[str, Any]:
        return TrainEvaluator(self.cfg).prepare(out_dir)

    def _data(self, data_dir: Path | None) -> Any:
        from nao_kfp.child.supernet_train import load_split

        child = self.cfg.child
        if data_dir is not None:
            child = dataclasses.replace(child, data_dir=str(data_dir))
        return load_split(child)

    def _work(self) -> Path:
        if self.work_dir is None:
            raise RuntimeError("supernet evaluator: no work directory for the supernet")
        return self.work_dir

    def store_key(self, epochs_to: int) -> str:
        """Where a round's training mirrors its latest checkpoint: one key per search (config
        and seed) and round, so a preempted round resumes its own epochs, never a later one's."""
        digest = self.cfg.digest("search", "evaluator", "controller", "child", "supernet")
        return f"supernets/{self.space.name}/{digest}/to-epoch-{epochs_to}/{CHECKPOINT}"

    def train_to(
        self, epochs_to: int, archs: Sequence[Any], *, data_dir: Path | None, log: Log | None
    ) -> dict[str, Any]:
        """Train the shared weights up to absolute epoch `epochs_to` on `archs` (from the
        work directory's checkpoint, or this round's mirror when a preempted run left one)."""
        from nao_kfp.child.supernet_train import train_supernet
        from nao_kfp.store import open_store
        from nao_kfp.store.cache import mirror_checkpoint, restore_checkpoint

        work = self._work()
        work.mkdir(parents=True, exist_ok=True)
        store = open_store(self.cfg.cluster, Path(tempfile.gettempdir()) / "nao-store")
        key = self.store_key(epochs_to)
        mirrored = work / ".mirrored.pt"
        if restore_checkpoint(store, key, mirrored):  # later than the round's input
            mirrored.replace(work / CHECKPOINT)
        out = train_supernet(
            self.space, self.cfg, list(archs), self._data(data_dir), work, epochs_to=epochs_to,
            seed=self.cfg.search.seed, on_checkpoint=mirror_checkpoint(store, key), log=log,
        )  # fmt: skip
        self.epoch = epochs_to
        return out

    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        from nao_kfp.child.supernet_train import score_archs, snapshot_path

        # the weights at epochs_to; a round that had finished before its task died has them in
        # the checkpoint only
        epoch = (
            self.epoch if self.epoch and snapshot_path(self._work(), self.epoch).is_file() else None
        )
        scores = score_archs(
            self.space, self.cfg, [e.arch for e in entries], self._data(data_dir), self._work(),
            epoch=epoch,
        )  # fmt: skip
        return [ok(e, s, supernet_epoch=self.epoch) for e, s in zip(entries, scores, strict=True)]
