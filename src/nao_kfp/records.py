"""Typed records the search writes: the per-round record, the history file and result.json.

Each is a dataclass with a schema version, written as JSON and loaded with the same strict
checks as configs: an unknown or missing key, or a value of the wrong type, is one line naming
the file and the key.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from nao_kfp import validate
from nao_kfp.errors import RecordError
from nao_kfp.jsontypes import JSONObject, JSONValue, Metrics
from nao_kfp.metric import Metric
from nao_kfp.results import FinalOutcome, RerankEntry
from nao_kfp.validate import OMIT_NONE, Unchecked

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
HISTORY_SCHEMA = "nao-kfp.history/3"
RESULT_SCHEMA = "nao-kfp.result/5"
SELECTION_SCHEMA = "nao-kfp.selection/2"


@dataclass
class RoundRecord:
    """What one round did: its children's scores (the *_accuracy, *_mean and best_so_far
    fields: the metric's score, result.json's `metric` says how it reads) and, for proposed
    architectures, how the predictor's view of them compared with the truth."""

    round: int
    evaluated: int = 0
    failed: int = 0
    cached: int = 0
    best_accuracy: float | None = None
    mean_accuracy: float | None = None
    best_so_far: float | None = None
    improved: bool = False
    proposed: int = 0
    predicted_mean: float | None = None
    real_mean: float | None = None
    pairwise_accuracy: float | None = None
    # the metrics of the controller fit whose decoder proposed this round's architectures
    # (fitted on the pool after the round before: n_train, pairwise_accuracy, hamming, ...);
    # empty in round 1. Written with the rest of the record by merge (or supernet_round).
    fit: Unchecked[Metrics] = field(default_factory=dict)
    # added from the pool by poolstats.with_pool_stats: the round's children's sizes
    best_params: int | None = None
    mean_params: float | None = None
    # NAO-WS: the supernet's training in this round (epoch reached, loss, seconds)
    supernet: Unchecked[Metrics] = field(default_factory=dict)


@dataclass
class History:
    rounds: list[RoundRecord] = field(default_factory=list)
    schema: str = HISTORY_SCHEMA


@dataclass
class Best:
    """The search's winner. dev_accuracy and test_accuracy are the metric's scores on the dev
    and the test split (an image network's accuracies; result.json's `metric` reads them)."""

    arch: str
    id: str
    dev_accuracy: float
    round: int | None = None
    source: str = ""
    params: int | None = None
    describe: str = ""
    macs: int | None = None
    test_accuracy: float | None = None


@dataclass
class Selection:
    """select_best's choice: the search's winner among its evaluated architectures within the
    budget, and how it was chosen (NAO-WS: the supernet's best, retrained from scratch)."""

    best: Best
    evaluated: int
    failed: int
    rerank: list[RerankEntry] = field(default_factory=list)
    schema: str = SELECTION_SCHEMA


@dataclass
class OriginStats:
    """The evaluated architectures of one origin (the pool's `source`: random, proxy, prior,
    nao, ...): how many, their mean and best score, and for those the predictor scored before
    they were trained (decoded ones) its mean prediction beside their measured mean."""

    source: str
    evaluated: int
    mean_accuracy: float | None = None
    best_accuracy: float | None = None
    predicted: int = 0
    predicted_mean: float | None = None
    real_mean: float | None = None


@dataclass
class SearchResult:
    """result.json: the best architecture and the per-round records. Written once per search,
    by outcome.conclude (the report task, after the final training): the selection, the
    history, the final training's outcome and the pool's statistics in one document."""

    name: str
    space: str
    evaluator: str
    evaluated: int
    failed: int
    rounds: list[RoundRecord] = field(default_factory=list)
    best: Best | None = None
    # what the scores stand for: the space's metric (a score with zero-cost proxies)
    metric: Metric = field(default_factory=Metric)
    # the final training's outcome (final.py's final.json, its paths resolved), when run
    final: FinalOutcome | None = None
    # NAO-WS: the supernet's best, retrained from scratch; best is the winner among them
    rerank: list[RerankEntry] = field(default_factory=list)
    # added from the pool by poolstats.with_pool_stats: the architectures of each origin
    origins: list[OriginStats] = field(default_factory=list)
    schema: str = RESULT_SCHEMA


# ---------------------------------------------------------------- strict (de)serialization


def to_dict(record: DataclassInstance) -> JSONObject:
    """A record as the JSON it is written as (records hold only JSON values)."""
    return cast(JSONObject, validate.dump(record))


def from_dict(cls: type[T], data: object, where: str) -> T:
    """Build `cls` from JSON data, rejecting unknown and missing keys and wrong types."""
    return validate.record(cls, data, where, RecordError)


def read_json(path: Path) -> Any:
    """A JSON file the steps wrote, within the JSON limits (validate.json_file)."""
    return validate.json_file(path, str(path), RecordError)


def write_json(path: Path, obj: object) -> None:
    """Atomically: a killed step never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def write_record(path: Path, record: DataclassInstance) -> None:
    write_json(path, to_dict(record))


def read_record(cls: type[T], path: Path) -> T:
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: no such file")
    data = validate.json_file(path, str(path), RecordError)
    schema = dataclasses.fields(cls)[-1]  # type: ignore[arg-type]
    got = data.get("schema") if isinstance(data, dict) else None
    if schema.name == "schema" and got != schema.default:
        raise RecordError(f"{path}: schema: expected {schema.default!r}, got {got!r}")
    return from_dict(cls, data, str(path))


def read_history(path: Path) -> History:
    return read_record(History, path)


def read_result(path: Path) -> SearchResult:
    return read_record(SearchResult, path)


def read_selection(path: Path) -> Selection:
    return read_record(Selection, path)


# ---------------------------------------------------------------- the benchmark document

BENCHMARK_SCHEMA = "nao-kfp.benchmark/1"


@dataclass
class TableInfo:
    source: str
    rows: int
    digest: str
    units: str
    has_test: bool


@dataclass
class BenchRun:
    """The best-by-valid architecture of one strategy's run after `budget` queries."""

    strategy: str
    seed: int
    budget: int
    arch: str
    valid: float
    reported: float


@dataclass
class BenchSummary:
    """Over seeds: mean, sample standard deviation and standard error of `reported`."""

    strategy: str
    budget: int
    mean: float
    std: float
    n: int
    sem: float = 0.0


# a query of a run's history: index, arch, valid, test or null, source
HistoryRow = list[int | float | str | None]


@dataclass
class BenchmarkResults:
    """`nao benchmark --json` and the reproduce reference: every run of every strategy, budget
    and seed (built by strategies/runner.py, written with validate.dump, read back strictly).
    The optional parts are absent from the file while None."""

    space: str
    table: TableInfo
    reported: str
    strategies: list[str]
    budgets: list[int]
    seeds: list[int]
    runs: list[BenchRun]
    summary: list[BenchSummary]
    # checked as objects only (JSONValue spelled out, not JSONObject: pydantic reads the
    # annotation in this module, where the alias's string must resolve)
    settings: Unchecked[dict[str, dict[str, JSONValue]]] = field(default_factory=dict)
    # strategy -> seed -> the reported accuracy of the best-by-valid arch after each query
    curves: Unchecked[dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    histories: Unchecked[dict[str, dict[str, list[HistoryRow]]]] = field(default_factory=dict)
    # strategy -> seed -> wall seconds (timing only; the reproduce reference leaves it out)
    seconds: Unchecked[dict[str, dict[str, float]] | None] = field(default=None, metadata=OMIT_NONE)
    # reproduce: the spec that produced it and the machine it ran on
    spec: Unchecked[dict[str, JSONValue] | None] = field(default=None, metadata=OMIT_NONE)
    # strategy -> seed -> digest trace (nao_kfp.trace), when asked for and recorded
    traces: Unchecked[dict[str, dict[str, list[list[str]]]] | None] = field(
        default=None, metadata=OMIT_NONE
    )
    machine: Unchecked[dict[str, str] | None] = field(default=None, metadata=OMIT_NONE)
    schema: str = BENCHMARK_SCHEMA
