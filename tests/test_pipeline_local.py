"""End to end: `nao search` runs the compiled pipeline function with kfp.local (a subprocess
per task) on a tiny two-round digits search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from search_tiny import tiny_config

from nao_kfp.cli import main
from nao_kfp.pool import read_pool
from nao_kfp.records import RESULT_SCHEMA


@pytest.mark.slow
def test_nao_search_runs_two_rounds_locally(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tiny_config()
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    out = tmp_path / "run"
    assert main(["search", "--config", str(tmp_path / "tiny.yaml"), "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert [r["round"] for r in result["rounds"]] == [1, 2]
    r1, r2 = result["rounds"]
    assert r1["evaluated"] == cfg.search.initial_archs and r1["proposed"] == 0
    # round 2 evaluated the architectures the controller decoded in round 1
    pool = read_pool(out / "pool.jsonl")
    nao = [e for e in pool if e.source == "nao"]
    assert nao and all(e.round == 2 for e in nao)
    assert r2["evaluated"] == len([e for e in nao if e.status == "ok"]) > 0
    assert r2["predicted_mean"] is not None and r2["fit"]["n_train"] == cfg.search.initial_archs
    assert r1["fit"] == {}  # round 2's record has the fit that proposed its architectures
    best = max((e for e in pool if e.status == "ok"), key=lambda e: (e.accuracy, e.id))
    assert result["best"]["id"] == best.id
    # the children used the run's local store, so a re-run into DIR would train nothing again
    assert len(list((out / "store").rglob("*.json"))) == len([e for e in pool if e.status == "ok"])
    for name in ("report.md", "report.html", "accuracy.png", "normal.svg", "reduce.svg", "kfp.log"):
        assert (out / name).stat().st_size > 0, name
    # result.json is written once per run, by the last task: every file under DIR (kfp/ and
    # its artifacts included) that holds a result is that one file
    written = {(p.stat().st_dev, p.stat().st_ino) for p in out.rglob("*") if _is_result(p)}
    assert len(written) == 1 and (out / "result.json").stat().st_ino == written.pop()[1]
    assert not list((out / "kfp").rglob("select-best*/**/result"))  # select writes its selection
    # report.md and report.html are one build of the report: the same best line in each
    line = f"dev accuracy {100 * result['best']['dev_accuracy']:.2f}%"
    assert line in (out / "report.md").read_text() and line in (out / "report.html").read_text()
    std = capsys.readouterr()
    assert "round 2/2:" in std.err and "best so far" in std.err  # progress
    assert best.id in std.out and "pairs ordered right" in std.out  # the summary table
    assert "What NAO did:" in std.out and "NAO's proposals" in std.out


def _is_result(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size > 1_000_000:
        return False
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("schema") == RESULT_SCHEMA
