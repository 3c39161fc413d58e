"""Adding a search space touches no file of src/: a toy space declared here, in a few lines, and
installed the way a package installs one (an entry point of group nao_kfp.spaces), runs a
synthetic search through kfp.local (`nao search`, one subprocess per task)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from search_tiny import CLI

TOY = '''
from nao_kfp.spaces.base import SearchSpace


class Switches(SearchSpace[tuple[int, ...]]):
    """Eight switches, each off or on: no child network, so synthetic or table scores it."""

    name, vocab_size, seq_len = "toy-switches", 2, 8

    def valid_tokens(self, pos): return (0, 1)
    def position_name(self, pos): return f"switch {pos}"
    def token_name(self, pos, token): return ("off", "on")[token]
    def _encode(self, arch): return list(arch)
    def _decode(self, tokens): return tuple(tokens)
    def to_string(self, arch): return "".join(map(str, arch))
    def parse(self, text): return self.decode([int(c) for c in text])
    def to_json(self, arch): return list(arch)
    def from_json(self, data): return self.decode(data)


SWITCHES = Switches()
'''


def install(site: Path) -> None:
    """What `pip install` of a package declaring the space leaves: its module and its
    distribution's entry point."""
    info = site / "toy_switches-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "toy_switches.py").write_text(TOY)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-switches\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[nao_kfp.spaces]\ntoy-switches = toy_switches:SWITCHES\n"
    )


@pytest.mark.slow
def test_a_toy_space_from_a_plugin_runs_a_synthetic_search(tmp_path: Path) -> None:
    site = tmp_path / "site"
    install(site)
    config = {
        "name": "toy",
        "search": {"space": "toy-switches", "rounds": 2, "initial_archs": 6, "top_k": 2,
                   "new_archs": 3, "shards": 1},
        "evaluator": {"kind": "synthetic"},
        "controller": {"embedding_size": 8, "hidden_size": 16, "mlp_hidden": 16, "epochs": 200,
                       "batch_size": 8},
    }  # fmt: skip
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
    }
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", CLI, "search", "--config", str(tmp_path / "toy.yaml"), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["space"] == "toy-switches" and [r["round"] for r in result["rounds"]] == [1, 2]
    assert result["rounds"][1]["proposed"] > 0  # NAO decoded switches for round 2
    lines = [json.loads(x) for x in (out / "pool.jsonl").read_text().splitlines()]
    assert {x["space"] for x in lines} == {"toy-switches"}
    assert all(len(x["arch"]) == 8 and set(x["arch"]) <= {"0", "1"} for x in lines)
    assert result["best"]["arch"] in {x["arch"] for x in lines}
    assert (out / "report.md").stat().st_size > 0
    # without the plugin the name is unknown, and the config says which spaces there are
    bare = subprocess.run(
        [sys.executable, "-c", CLI, "search", "--config", str(tmp_path / "toy.yaml"), "--out", str(tmp_path / "bare")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bare.returncode == 2 and "search.space" in bare.stderr and "toy-switches" in bare.stderr
