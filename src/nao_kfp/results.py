"""What a trained child, a re-rank, a final training and a supernet training return.

The records that cross a file (a child's result.json and the result store's copy, final.json,
the re-rank's entries that selection.json and result.json keep) are frozen dataclasses, read
back through validate.record: a missing or unknown key, or a value of the wrong type, is one
line naming the file and the key. The training loops' own state (an epoch's record, what a loop
resumes from, the supernet's summary) stays inside the process and its torch checkpoints: plain
dicts with known keys (TypedDicts).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

from nao_kfp import validate
from nao_kfp.errors import RecordError
from nao_kfp.jsontypes import JSONObject


class EpochRecord(TypedDict, total=False):
    """One epoch of a training's history: its loss and how the dev set scored."""

    epoch: int
    loss: float
    lr: float
    dev_accuracy: float
    dev_perplexity: float
    train_accuracy: float
    train_perplexity: float
    perplexity: float  # the recurrent supernet's training perplexity
    pool: int  # a supernet's: how many architectures it trained on
    skipped: int


class TrainState(TypedDict):
    """What a training loop resumes from (beside the weights in its checkpoint)."""

    epoch: int
    history: list[EpochRecord]
    seconds: float


def _absent() -> Any:
    """A key the run did not record: absent from the JSON (validate.OMIT_NONE), None here."""
    return field(default=None, metadata=validate.OMIT_NONE)


@dataclass(frozen=True)
class ChildResult:
    """A trained child's result.json (child.train_child; also the result store's entry): a
    language model's dev_accuracy is a score of its perplexity. final.rerank's stand-in for a
    run that diverged has only dev_accuracy 0 and `diverged`, the reason. A key the run did not
    measure is absent from the file (None here)."""

    dev_accuracy: float
    best_dev_accuracy: float | None = _absent()
    test_accuracy: float | None = _absent()
    dev_perplexity: float | None = _absent()
    best_dev_perplexity: float | None = _absent()
    test_perplexity: float | None = _absent()
    params: int | None = _absent()
    macs: int | None = _absent()
    seconds: float | None = _absent()
    epochs: int | None = _absent()
    device: str | None = _absent()
    train_size: int | None = _absent()
    dev_size: int | None = _absent()
    vocab: int | None = _absent()
    diverged: str | None = _absent()

    def to_json(self) -> JSONObject:
        return cast(JSONObject, validate.dump(self))

    @classmethod
    def from_json(cls, data: object, where: str) -> ChildResult:
        return validate.record(cls, data, where, RecordError)


@dataclass(frozen=True)
class RerankEntry:
    """One architecture retrained by final.rerank (None: the run did not say): its scores on
    the dev and test split (the metric's); the selection adds what the cheap score (the
    supernet's, the proxies') said of it."""

    arch: str
    id: str
    dev_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    diverged: str | None = _absent()
    supernet_score: float | None = _absent()
    proxy_score: float | None = _absent()


@dataclass(frozen=True)
class FinalOutcome:
    """final.json: the final training's outcome (final.final_train), result.json's `final`.

    final.json lies in the model folder and names its files relative to that folder (model_dir
    is "."; `load` runs there); resolved(folder) gives the paths (and the command) as they are
    from anywhere, which is how every reader takes it (read_final) and how result.json keeps it."""

    arch: str
    arch_id: str
    test_accuracy: float | None
    dev_accuracy: float | None
    params: int | None
    macs: int | None
    epochs: int | None
    seconds: float | None
    rerank: list[RerankEntry]
    model_dir: str
    model: str
    program: str
    package: str | None  # model.aoti.pt2 (final.aot_compile), None when not compiled
    compile_seconds: float | None
    load: str
    storage_uri: str
    inference_service: str

    def resolved(self, folder: Path) -> FinalOutcome:
        """The outcome with its relative paths (and the load command's) made from `folder`,
        the folder of the final.json it was read from."""
        if Path(self.model_dir).is_absolute():
            return self
        folder = Path(folder)

        def at(name: str) -> str:
            return str(folder / name)

        return dataclasses.replace(
            self,
            model_dir=at(self.model_dir) if self.model_dir != "." else str(folder),
            model=at(self.model),
            program=at(self.program),
            package=None if self.package is None else at(self.package),
            load=self.load.replace(f"'{self.program}'", f"'{at(self.program)}'"),
            inference_service=at(self.inference_service),
        )

    def to_json(self) -> JSONObject:
        return cast(JSONObject, validate.dump(self))

    @classmethod
    def from_json(cls, data: object, where: str) -> FinalOutcome:
        return validate.record(cls, data, where, RecordError)


class SupernetTrained(TypedDict, total=False):
    """train_supernet's summary: the epoch reached, the per-epoch history, wall time and the
    network's size."""

    epoch: int
    epochs: int
    history: list[EpochRecord]
    seconds: float
    params: int
    device: str
    train_size: int
    snapshot: str | None
