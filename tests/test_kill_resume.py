"""A killed search, resumed: SIGKILL of the whole `nao search` process group mid-child,
mid-merge, mid-fit and mid-decode (faults.py), rerun each time with the same command. No
finished child is trained again, an interrupted one resumes from its last epoch, and the end
result is exactly the uninterrupted run's."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
import yaml
from search_tiny import search_cli, tiny_config


def _comparable(out: Path) -> tuple[list[tuple[str, float | None, str, int | None]], dict]:
    pool = [json.loads(line) for line in (out / "pool.jsonl").read_text().splitlines()]
    result = json.loads((out / "result.json").read_text())
    for rec in result["rounds"]:  # wall time and cache hits are what may differ
        rec["fit"] = {
            k: v for k, v in rec["fit"].items() if "second" not in k and k != "s_per_epoch"
        }
        rec["cached"] = None
    return [(e["id"], e["accuracy"], e["source"], e["round"]) for e in pool], result


@pytest.mark.slow
def test_four_kills_then_the_uninterrupted_result(tmp_path: Path) -> None:
    cfg = tiny_config(None, "child.epochs=2", "search.shards=2")
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg.to_dict()))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "faults").mkdir()
    base = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    assert search_cli(cfg_path, tmp_path / "ref", base).returncode == 0

    env = {**base, "NAO_FAULTS": "child-epoch:kill:1,merge:kill:1,fit:kill:1,decode:kill:1",
           "NAO_FAULTS_DIR": str(tmp_path / "faults")}  # fmt: skip
    runs = []
    for _ in range(6):
        runs.append(search_cli(cfg_path, tmp_path / "run", env))
        if runs[-1].returncode == 0:
            break
    codes = [r.returncode for r in runs]
    assert codes == [-signal.SIGKILL] * 4 + [0], [r.stderr[-2000:] for r in runs]
    assert sorted(p.name for p in (tmp_path / "faults").iterdir()) == [
        "child-epoch-kill", "decode-kill", "fit-kill", "merge-kill"
    ]  # fmt: skip
    assert _comparable(tmp_path / "run") == _comparable(tmp_path / "ref")

    # every child finished training exactly once over the five runs: the others were cached
    finished = [re.sub(r"\s+\(left: [^)]*\)$", "", line)  # the ETA that ends a progress line
                for r in runs for line in r.stderr.splitlines() if " child " in line]  # fmt: skip
    trained = [line for line in finished if "(cached)" not in line and line.rstrip().endswith("%")
               or "(resumed)" in line]  # fmt: skip
    n_children = len(_comparable(tmp_path / "ref")[0])
    assert len(trained) == n_children, finished
    assert any("(resumed)" in line for line in finished)  # the killed child lost < 1 epoch
    # nothing left in the temp directory by the killed tasks (nor in the run's scratch)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert not (tmp_path / "run" / ".tmp").exists()
