"""The supernet evaluator (NAO-WS, paper §3.4): architectures scored with shared weights.

One supernet holds the weights of every choice of the space (child/supernet.py). A search
trains it round by round on the architectures of its pool (each minibatch trains one of them),
and an architecture's score is its accuracy on fixed dev batches with the shared weights
(child/supernet_train.py, `supernet.bn` for the BatchNorm statistics). So evaluating costs a few
forward passes, and every round re-scores the whole pool with the newer weights (steps.
supernet_round). The winner is chosen by retraining the best supernet.rerank_top from scratch
for supernet.rerank_epochs (final.rerank, cached and resumable) and keeping the best of them.

The supernet's checkpoint lives in a work directory (the pipeline passes it from round to round
as a Model artifact) and is mirrored to the store every epoch, so a preempted round resumes
from its last epoch, and a round whose input holds no supernet starts from the previous round's
mirror.

Language models (enas-rnn) train the recurrent supernet (child/rnn_supernet_train.py); their
score is their metric's (metric.py), with what the scoring measured beside it in the pool.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp import faults, progress
from nao_kfp.config import Config
from nao_kfp.evaluators.base import Evaluator, Log, failed, ok
from nao_kfp.evaluators.proxy import make_scorer
from nao_kfp.fanin import store_for
from nao_kfp.final import rerank_select
from nao_kfp.kinds import KINDS
from nao_kfp.pool import PoolEntry
from nao_kfp.results import EpochRecord, RerankEntry, SupernetTrained
from nao_kfp.spaces import Arch
from nao_kfp.store.cache import mirror_checkpoint, restore_checkpoint

if TYPE_CHECKING:
    from nao_kfp.child.data import Corpus, Split

CHECKPOINT = "checkpoint.pt"
# scoring progress: about this many lines per round, however large the pool
SCORE_UPDATES = 10


class SupernetEvaluator(Evaluator):
    kind = KINDS["supernet"]

    def __init__(self, cfg: Config, work_dir: Path | None = None):
        super().__init__(cfg)
        self.work_dir = Path(work_dir) if work_dir else None
        self.epoch: int | None = None  # the weights that score: train_to's last epochs_to
        self.round_index = 0  # for progress lines

    def _data(self, data_dir: Path | None) -> Split | Corpus:
        from nao_kfp.child.data import load_data

        child = self.cfg.child
        if data_dir is not None:
            child = dataclasses.replace(child, data_dir=str(data_dir))
        return load_data(self.cfg, child)

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
        self, epochs_to: int, archs: Sequence[Arch], *, data_dir: Path | None, log: Log | None
    ) -> SupernetTrained:
        """Train the shared weights up to absolute epoch `epochs_to` on `archs`: from this
        round's mirror when a preempted run left one, else from the work directory's checkpoint
        (the round's input), else from the previous round's mirror."""
        from nao_kfp.child.supernet_train import train_supernet

        work = self._work()
        work.mkdir(parents=True, exist_ok=True)
        store, key = store_for(self.cfg), self.store_key(epochs_to)
        points = self.cfg.supernet.schedule()
        before = [p for p in points if p < epochs_to]
        mirrored = work / ".mirrored.pt"
        if restore_checkpoint(store, key, mirrored) or (
            before
            and not (work / CHECKPOINT).is_file()
            and restore_checkpoint(store, self.store_key(before[-1]), mirrored)
        ):
            mirrored.replace(work / CHECKPOINT)
        mirror = mirror_checkpoint(store, key)

        def on_checkpoint(path: Path) -> None:
            mirror(path)
            faults.hit("supernet-epoch")  # a kill here loses nothing: the epoch is in the store

        timed: list[float] = []

        def on_epoch(record: EpochRecord, seconds: float) -> None:
            timed.append(seconds)
            per_epoch = sum(timed) / len(timed)
            epoch, total = record["epoch"], self.cfg.supernet.epochs
            measured = {k: v for k, v in record.items() if k not in ("epoch", "loss")}
            progress.emit(
                "supernet", round=self.round_index, epoch=epoch, epochs=total,
                loss=record["loss"], **measured,
                seconds=round(seconds, 2), round_left=round(per_epoch * (epochs_to - epoch), 1),
                search_left=round(per_epoch * (total - epoch), 1),
            )  # fmt: skip

        out = train_supernet(
            self.space, self.cfg, list(archs), self._data(data_dir), work, epochs_to=epochs_to,
            seed=self.cfg.search.seed, on_checkpoint=on_checkpoint, on_epoch=on_epoch, log=log,
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
        from nao_kfp.child.runtime import snapshot_path
        from nao_kfp.child.supernet_train import score_pool

        # the weights at epochs_to; a round that had finished before its task died has them in
        # the checkpoint only
        epoch = (
            self.epoch if self.epoch and snapshot_path(self._work(), self.epoch).is_file() else None
        )
        every = -(-len(entries) // SCORE_UPDATES)  # ceil: at most SCORE_UPDATES lines
        t0 = time.perf_counter()

        def on_scored(done: int, total: int) -> None:
            if done % every == 0 or done == total:
                progress.emit(
                    "supernet_score", round=round_index, done=done, total=total,
                    seconds=round(time.perf_counter() - t0, 1),
                )  # fmt: skip

        scored = score_pool(
            self.space, self.cfg, [e.arch for e in entries], self._data(data_dir), self._work(),
            epoch=epoch, on_scored=on_scored,
        )  # fmt: skip
        if self.cfg.evaluator.proxies:  # (image spaces: every architecture has a score)
            return self._with_proxies(entries, [s.score or 0.0 for s in scored], data_dir)
        return [
            ok(e, s.score, supernet_epoch=self.epoch, **s.extra) if s.score is not None
            else failed(e, s.error, supernet_epoch=self.epoch, **s.extra)
            for e, s in zip(entries, scored, strict=True)
        ]  # fmt: skip

    def _with_proxies(
        self, entries: Sequence[PoolEntry], scores: Sequence[float], data_dir: Path | None
    ) -> list[PoolEntry]:
        """evaluator.proxies: the score combines the shared-weight accuracy, standardized over
        this round's scoring (the whole pool), with the proxies' z-scores (each weighing as
        much as the supernet); the accuracy itself is kept as supernet_accuracy."""
        scorer = make_scorer(self.cfg, data_dir)
        mean = statistics.fmean(scores)
        spread = statistics.pstdev(scores)
        out = []
        for e, s in zip(entries, scores, strict=True):
            z = (s - mean) / spread if spread > 0 else 0.0
            out.append(
                ok(
                    e,
                    scorer.score(e.arch, extra=[z]),
                    supernet_epoch=self.epoch,
                    supernet_accuracy=s,
                    proxies=scorer.zscores(e.arch),
                )  # fmt: skip
            )
        return out

    def select(
        self, ranked: Sequence[PoolEntry], *, data_dir: Path | None = None, log: Log | None = None
    ) -> tuple[PoolEntry, list[RerankEntry]]:
        """NAO-WS's selection: the best supernet.rerank_top retrained from scratch (the child
        recipe, supernet.rerank_epochs) and the best of them by that dev score."""
        sn = self.cfg.supernet
        return rerank_select(
            self.cfg, ranked, sn.rerank_top, sn.rerank_epochs, data_dir=data_dir, log=log,
            score_key="supernet_score",
        )  # fmt: skip
