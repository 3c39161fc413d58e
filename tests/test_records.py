"""Typed records (history, result.json, the benchmark document) load strictly: every problem is
one line naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nao_kfp.final import FINAL_JSON, read_final
from nao_kfp.records import (
    History,
    RecordError,
    RoundRecord,
    read_history,
    read_result,
    write_record,
)
from nao_kfp.results import ChildResult
from nao_kfp.strategies.reproduce import REFERENCE_PATH
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


def _final_doc() -> dict[str, object]:
    """final.json as the final training writes it: paths relative to the model folder."""
    return {
        "arch": "a", "arch_id": "0123abcd", "test_accuracy": 0.9, "dev_accuracy": 0.91,
        "params": 1000, "macs": 2000, "epochs": 2, "seconds": 1.5,
        "rerank": [{"arch": "a", "id": "0123abcd", "dev_accuracy": 0.8, "test_accuracy": None,
                    "params": 1000, "macs": 2000, "proxy_score": 0.5}],
        "model_dir": ".", "model": "model.pt", "program": "model.pt2", "package": None,
        "compile_seconds": None, "storage_uri": "s3://nao/models/x",
        "load": "python -c \"import torch; m = torch.export.load('model.pt2').module()\"",
        "inference_service": "inference-service.yaml",
    }  # fmt: skip


def test_final_json_reads_back_with_its_paths_resolved_against_its_folder(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / FINAL_JSON).write_text(json.dumps(_final_doc()))
    final = read_final(tmp_path / "m")
    assert final is not None and final.model_dir == str(tmp_path / "m")
    assert final.program == str(tmp_path / "m" / "model.pt2") and final.package is None
    assert f"torch.export.load('{tmp_path / 'm' / 'model.pt2'}')" in final.load
    assert final.rerank[0].proxy_score == 0.5 and final.rerank[0].supernet_score is None
    assert final.to_json()["rerank"] == _final_doc()["rerank"]  # absent keys stay absent
    assert read_final(tmp_path / "elsewhere") is None


def test_a_final_json_of_an_earlier_version_still_resumes(tmp_path: Path) -> None:
    """Earlier versions wrote absolute paths and the task's checkpoint: a finished final
    training from one is read back, not refused, so resuming its search does not retrain."""
    m = tmp_path / "m"
    m.mkdir()
    old = {**_final_doc(), "model_dir": str(m), "model": str(m / "model.pt"),
           "program": str(m / "model.pt2"), "inference_service": str(m / "inference-service.yaml"),
           "checkpoint": "/tmp/task/checkpoint.pt"}  # fmt: skip
    (m / FINAL_JSON).write_text(json.dumps(old))
    final = read_final(m)
    assert final is not None and final.model_dir == str(m)
    assert final.program == str(m / "model.pt2")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"params": "many"}, "final.json.params: expected an integer, got 'many'"),
        ({"model": None}, "final.json.model: expected a string, got None"),
        ({"rerank": [{"arch": "a"}]}, "final.json.rerank[0]: missing key 'id'"),
        ({"modeldir": "m"}, "final.json.modeldir: unknown key"),
    ],
)
def test_a_bad_final_json_is_one_line_naming_the_file_and_key(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    (tmp_path / FINAL_JSON).write_text(json.dumps({**_final_doc(), **change}))
    with pytest.raises(RecordError) as err:
        read_final(tmp_path)
    assert str(err.value) == f"{tmp_path / message}" and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"dev_accuracy": "high"}, "result.json.dev_accuracy: expected a number, got 'high'"),
        ({"dev_accuracy": 0.5, "params": 1.5}, "result.json.params: expected an integer, got 1.5"),
        ({"dev_accuracy": 0.5, "devacc": 1}, "result.json.devacc: unknown key"),
        ({"params": 3}, "result.json: missing key 'dev_accuracy'"),
    ],
)
def test_a_bad_child_result_is_one_line_naming_the_file_and_key(
    tmp_path: Path, doc: dict[str, object], message: str
) -> None:
    from nao_kfp.child import runtime

    (tmp_path / "result.json").write_text(json.dumps(doc))
    with pytest.raises(RecordError) as err:
        runtime.read_result(tmp_path)
    assert str(err.value) == f"{tmp_path / message}"


def test_a_child_result_keeps_its_keys_through_the_file(tmp_path: Path) -> None:
    from nao_kfp.child import runtime

    result = ChildResult(dev_accuracy=0.5, params=10, vocab=None, device="cpu")
    runtime.write_result(tmp_path, result)
    assert json.loads((tmp_path / "result.json").read_text()) == {
        "dev_accuracy": 0.5, "params": 10, "device": "cpu"
    }  # fmt: skip
    assert runtime.read_result(tmp_path) == result


def test_the_benchmark_document_reads_back_and_writes_the_same_bytes(tmp_path: Path) -> None:
    """The reference leaves out what it has not (seconds): a key absent stays absent."""
    from nao_kfp.strategies.reproduce import load_reference
    from nao_kfp.strategies.runner import write_results

    reference = load_reference(REFERENCE_PATH)
    assert reference.seconds is None and reference.traces and reference.machine
    write_results(tmp_path / "again.json", reference)
    assert (tmp_path / "again.json").read_bytes() == REFERENCE_PATH.read_bytes()


def test_a_bad_benchmark_document_is_one_line_naming_the_file_and_key(tmp_path: Path) -> None:
    from nao_kfp.strategies.reproduce import ReproduceError, load_reference
    from nao_kfp.strategies.runner import read_results

    doc = json.loads(REFERENCE_PATH.read_text())
    path = tmp_path / "b.json"
    bad = {**doc, "runs": [{**doc["runs"][0], "valid": "x"}, *doc["runs"][1:]]}
    path.write_text(json.dumps(bad))
    with pytest.raises(ArgError) as err:
        read_results(path)
    assert str(err.value) == f"{path}.runs[0].valid: expected a number, got 'x'"
    with pytest.raises(ReproduceError) as rerr:
        load_reference(path)
    assert str(rerr.value) == str(err.value)
    path.write_text(json.dumps({**doc, "table": {**doc["table"], "rows": None}}))
    with pytest.raises(ArgError, match=rf"^{path}.table.rows: expected an integer, got None$"):
        read_results(path)
