"""What a trained child, a re-rank, a final training and a supernet training return.

Plain JSON objects with known keys (TypedDicts: at run time they are dicts, written as they
are): a child's result.json and the result store's copy, final.json, the re-rank's records that
selection.json and result.json keep, and the supernet's training summary.
"""

from __future__ import annotations

from typing import TypedDict

from typing_extensions import TypedDict as CheckedTypedDict  # pydantic checks it on Python < 3.12


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


class ChildResult(CheckedTypedDict, total=False):
    """A trained child's result.json (child.train_child; also the result store's entry): a
    language model's dev_accuracy is a score of its perplexity. final.rerank's stand-in for a
    run that diverged has only dev_accuracy 0 and `diverged`, the reason."""

    dev_accuracy: float
    best_dev_accuracy: float
    test_accuracy: float
    dev_perplexity: float
    best_dev_perplexity: float
    test_perplexity: float
    params: int
    macs: int
    seconds: float
    epochs: int
    device: str
    train_size: int
    dev_size: int
    vocab: int | None
    diverged: str


class RerankEntry(TypedDict, total=False):
    """One architecture retrained by final.rerank (None: the run did not say): its scores on
    the dev and test split (the metric's); the selection adds what the cheap score (the
    supernet's, the proxies') said of it."""

    arch: str
    id: str
    diverged: str
    dev_accuracy: float | None
    test_accuracy: float | None
    params: int | None
    macs: int | None
    supernet_score: float | None
    proxy_score: float | None


class FinalOutcome(TypedDict, total=False):
    """final.json: the final training's outcome (final.final_train), result.json's `final`."""

    arch: str
    arch_id: str
    test_accuracy: float | None
    dev_accuracy: float | None
    params: int | None
    macs: int | None
    epochs: int | None
    seconds: float | None
    rerank: list[RerankEntry]
    checkpoint: str
    model_dir: str
    model: str
    program: str | None
    package: str | None  # model.aoti.pt2 (final.aot_compile), None when not compiled
    compile_seconds: float | None
    load: str
    storage_uri: str
    inference_service: str


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
