"""Typed records (history, result.json, the benchmark document) load strictly: every problem is
one line naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nao_kfp.records import (
    History,
    RecordError,
    RoundRecord,
    read_history,
    read_result,
    write_record,
)
from nao_kfp.strategies.runner import ArgError, check_results


def test_a_history_round_trips(tmp_path: Path) -> None:
    h = History([RoundRecord(1, evaluated=4, best_accuracy=0.5, fit={"hamming": 0.1})])
    write_record(tmp_path / "h.json", h)
    assert read_history(tmp_path / "h.json") == h


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schema": "nao-kfp.history/3", "rounds": [{"round": 1, "evaluatd": 3}]},
         "h.json.rounds[0].evaluatd: unknown key"),
        ({"schema": "nao-kfp.history/3", "rounds": [{"evaluated": 3}]},
         "h.json.rounds[0]: missing key 'round'"),
        ({"schema": "nao-kfp.history/3", "rounds": [{"round": "1"}]},
         "h.json.rounds[0].round: expected an integer, got '1'"),
        ({"schema": "nao-kfp.history/3", "rounds": [{"round": 1, "best_accuracy": "x"}]},
         "h.json.rounds[0].best_accuracy: expected a number, got 'x'"),
        ([{"round": 1}], "h.json: schema: expected 'nao-kfp.history/3', got None"),
    ],
)  # fmt: skip
def test_a_bad_history_names_the_key(tmp_path: Path, doc: object, message: str) -> None:
    (tmp_path / "h.json").write_text(json.dumps(doc))
    with pytest.raises(RecordError) as err:
        read_history(tmp_path / "h.json")
    assert str(err.value).endswith(message) and "\n" not in str(err.value)


def test_an_old_result_is_named_by_its_schema(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"name": "x", "rounds": []}))
    with pytest.raises(RecordError, match=r"r.json: schema: expected 'nao-kfp.result/5', got None"):
        read_result(tmp_path / "r.json")


def test_the_benchmark_document_is_checked_field_by_field() -> None:
    doc = {
        "schema": "nao-kfp.benchmark/1", "space": "nb201", "reported": "test",
        "table": {"source": "t.csv", "rows": 3, "digest": "ab", "units": "percent", "has_test": True},
        "strategies": ["random"], "budgets": [1], "seeds": [0],
        "runs": [{"strategy": "random", "seed": 0, "budget": 1, "arch": "a", "valid": 1.0,
                  "reported": 2.0}],
        "summary": [{"strategy": "random", "budget": 1, "mean": 2.0, "std": 0.0, "n": 1, "sem": 0.0}],
        "curves": {"random": {"0": [2.0]}}, "histories": {}, "settings": {},
    }  # fmt: skip
    check_results(doc)
    with pytest.raises(ArgError, match=r"^results.table.rows: expected an integer, got '3'$"):
        check_results({**doc, "table": {**doc["table"], "rows": "3"}})
    with pytest.raises(ArgError, match=r"^results.runs\[0\].valid: expected a number, got None$"):
        check_results({**doc, "runs": [{**doc["runs"][0], "valid": None}]})
    with pytest.raises(ArgError, match=r"^results.extra: unknown key$"):
        check_results({**doc, "extra": 1})
