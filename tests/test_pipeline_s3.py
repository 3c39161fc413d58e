"""The S3 store path of train-children against a real S3 server (SeaweedFS, `s3_server`):
a child killed mid-training resumes from its last mirrored epoch, and a finished child is never
trained again."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_tiny import tiny_config

from nao_kfp import steps
from nao_kfp.config import config_to_json
from nao_kfp.evaluators.train import child_digest
from nao_kfp.pool import read_pool
from nao_kfp.store import ChildCache, open_store

EPOCHS = 3
KILL_WAIT_S = 120.0  # generous: two CPU cores shared with other test suites

TRAIN_ONE_SHARD = """
import sys
from pathlib import Path
from nao_kfp import steps
from nao_kfp.config import config_from_json
cfg = config_from_json(Path(sys.argv[1]).read_text())
steps.train_children(cfg, Path(sys.argv[2]), 0, 1, None, Path(sys.argv[3]))
"""


@pytest.mark.slow
def test_killed_child_resumes_from_its_last_epoch(
    s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config(
        None,
        f"cluster.s3_endpoint={s3_server.endpoint}",
        f"cluster.s3_bucket={s3_server.bucket}",
        "search.seed=7",  # fixed: the S3 server (and so its cache) is fresh for each pytest session
        "search.initial_archs=1",
        "search.top_k=1",
        f"child.epochs={EPOCHS}",
        # epochs long enough (~0.5 s) that the kill lands between two checkpoints
        "child.train_subset=600",
        "child.batch_size=16",
    )
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    steps.sample(cfg, tmp_path / "pool.jsonl", tmp_path / "h.json")
    first = steps.shard_entries(read_pool(tmp_path / "pool.jsonl"), 0, 1)[0]
    cache = ChildCache(
        open_store(cfg.cluster, tmp_path), cfg.search.space, first.id, child_digest(cfg)
    )
    (tmp_path / "cfg.json").write_text(config_to_json(cfg))

    args = [str(tmp_path / p) for p in ("cfg.json", "pool.jsonl", "killed.jsonl")]
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAIN_ONE_SHARD, *args], env={**os.environ, **s3_server.env()}
    )
    try:
        deadline = time.monotonic() + KILL_WAIT_S
        while not cache.store.exists(cache.checkpoint_key):
            assert proc.poll() is None, "the shard ended before its first checkpoint was mirrored"
            assert time.monotonic() < deadline, "no checkpoint reached the store"
            time.sleep(0.02)
        proc.kill()  # as a pre-empted pod: no clean-up, no result
    finally:
        proc.kill()
        proc.wait()
    assert not (tmp_path / "killed.jsonl").exists() and cache.result() is None

    lines: list[str] = []
    out = steps.train_children(
        cfg, tmp_path / "pool.jsonl", 0, 1, None, tmp_path / "r.jsonl", log=lines.append
    )
    assert out["evaluated"] == 1
    got = {e.id: e for e in read_pool(tmp_path / "r.jsonl")}
    assert got[first.id].extra["resumed"] is True and got[first.id].extra["epochs"] == EPOCHS
    assert cache.result() is not None  # now in the result cache
    # the killed child went on from its mirrored epoch: fewer epochs than a fresh start
    resumed_at = [
        int(m.group(1)) for m in map(re.compile(r"resuming at epoch (\d+)").match, lines) if m
    ]
    assert len(resumed_at) == 1 and resumed_at[0] >= 2
    epochs_run = sum(1 for line in lines if re.match(r"epoch \d+/", line))
    assert epochs_run == EPOCHS - resumed_at[0] + 1

    # a later task (a pipeline re-run, or a round proposing the same arch) trains nothing
    again = steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 1, None, tmp_path / "again.jsonl")
    assert again["cached"] == 1
    assert [e.accuracy for e in read_pool(tmp_path / "again.jsonl")] == [
        e.accuracy for e in got.values()
    ]
