"""Reliability, proven with real faults: an object store that refuses writes or goes down, a
corrupted object, crashing and diverging children, concurrent writers, leftovers."""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from s3server import S3Server
from search_tiny import tiny_config

from nao_kfp import steps
from nao_kfp.child.runtime import WORK_ROOT
from nao_kfp.config import load_config
from nao_kfp.errors import NaoError
from nao_kfp.evaluators import make_evaluator
from nao_kfp.pool import entry, read_pool
from nao_kfp.results import ChildResult
from nao_kfp.store import ChildCache, LocalStore, StoreError, open_store
from nao_kfp.store.base import StoreUnavailable
from nao_kfp.store.cache import mirror_checkpoint, previous_key, restore_checkpoint
from nao_kfp.store.s3 import S3Store
from nao_kfp.store.safe import SafeStore

# ---------------------------------------------------------------- the object store


@pytest.fixture
def proxy(s3_server: S3Server) -> FaultProxy:
    p = FaultProxy(s3_server.endpoint)
    yield p
    p.close()


def test_every_write_refused_fails_loudly_after_the_deadline(
    s3_server: S3Server, proxy: FaultProxy, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SafeStore(
        S3Store(proxy.endpoint, s3_server.bucket, s3_server.access_key, s3_server.secret_key),
        deadline_s=5.0,
        delay_s=0.2,
    )
    proxy.mode = "fail-writes"
    start = time.monotonic()
    with pytest.raises(StoreError) as err:
        store.put_bytes("results/x.json", b"{}")
    took = time.monotonic() - start
    line = str(err.value)
    assert "\n" not in line and "gave up after" in line and "store_deadline_s is 5" in line
    assert 3.0 < took < 20.0 and proxy.failed["PUT"] >= 3
    waits = [json.loads(x.split(" ", 1)[1]) for x in capsys.readouterr().out.splitlines()]
    assert len(waits) >= 2 and all(w["event"] == "store_wait" for w in waits)  # shown while waiting
    assert s3_server.secret_key not in line


def test_a_store_outage_shorter_than_the_deadline_is_survived(
    s3_server: S3Server, proxy: FaultProxy
) -> None:
    inner = S3Store(proxy.endpoint, s3_server.bucket, s3_server.access_key, s3_server.secret_key)
    store = SafeStore(inner, deadline_s=30.0, delay_s=0.25)
    proxy.mode = "down"
    threading.Timer(3.0, lambda: setattr(proxy, "mode", "pass")).start()
    start = time.monotonic()
    store.put_bytes("results/outage.json", b'{"ok": 1}')
    assert time.monotonic() - start >= 2.5  # it waited the outage out
    assert store.get_json("results/outage.json") == {"ok": 1}
    assert proxy.failed["PUT"] >= 2


def test_access_denied_is_not_retried(s3_server: S3Server) -> None:
    inner = S3Store(
        s3_server.endpoint, s3_server.bucket, s3_server.access_key, s3_server.secret_key
    )
    store = SafeStore(inner, deadline_s=30.0)
    inner._client._provider._credentials = type(inner._client._provider._credentials)(  # type: ignore[attr-defined]
        s3_server.access_key, "wrong-secret"
    )
    start = time.monotonic()
    with pytest.raises(StoreError) as err:
        store.put_bytes("results/denied.json", b"{}")
    assert not isinstance(err.value, StoreUnavailable) and time.monotonic() - start < 5


def test_a_child_whose_result_cannot_be_stored_fails_its_task(
    s3_server: S3Server, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    cfg = tiny_config(
        None, f"cluster.s3_endpoint={proxy.endpoint}", f"cluster.s3_bucket={s3_server.bucket}",
        "cluster.store_deadline_s=1", "cluster.store_retry_delay_s=0.2", "search.initial_archs=2",
        "search.top_k=1",
    )  # fmt: skip
    steps.sample(cfg, tmp_path / "pool.jsonl", tmp_path / "h.json")
    proxy.mode = "fail-writes"
    with pytest.raises(StoreError, match="gave up after"):
        steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 1, None, tmp_path / "r.jsonl")
    assert not (tmp_path / "r.jsonl").exists()  # no result that claims success


def test_a_corrupted_checkpoint_falls_back_and_a_corrupted_result_is_retrained(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SafeStore(LocalStore(tmp_path / "store"))
    key = "checkpoints/enas/d/a/checkpoint.pt"
    mirror = mirror_checkpoint(store, key)
    for epoch in (1, 2):
        (tmp_path / "c.pt").write_bytes(f"epoch {epoch}".encode() * 100)
        mirror(tmp_path / "c.pt")
    latest = tmp_path / "store" / key
    assert latest.read_bytes() == b"epoch 2" * 100  # the stored file is the checkpoint itself
    latest.write_bytes(latest.read_bytes()[:-7])  # truncated
    assert restore_checkpoint(store, key, tmp_path / "back.pt")
    assert (tmp_path / "back.pt").read_bytes() == b"epoch 1" * 100  # the previous one
    assert "checksum mismatch" in capsys.readouterr().out
    prev = tmp_path / "store" / previous_key(key)
    prev.write_bytes(prev.read_bytes().replace(b"epoch 1", b"epoch 9", 1))  # bit rot
    assert not restore_checkpoint(store, key, tmp_path / "none.pt")  # neither is loaded
    cache = ChildCache(store, "enas", "a", "d")
    cache.save_result(ChildResult(dev_accuracy=0.5))
    raw = tmp_path / "store" / cache.result_key
    raw.write_bytes(raw.read_bytes().replace(b"0.5", b"0.9"))  # flipped, not truncated
    assert cache.result() is None  # so the child is trained again


# ---------------------------------------------------------------- children that crash


def _tiny_pool(tmp_path: Path, *sets: str):
    cfg = tiny_config(tmp_path / "store", "search.initial_archs=2", "search.top_k=1", *sets)
    steps.sample(cfg, tmp_path / "pool.jsonl", tmp_path / "h.json")
    return cfg


@pytest.mark.parametrize("action", ["raise", "oom"])
def test_a_crashing_child_is_retried_then_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    state = tmp_path / "faults"
    state.mkdir()
    monkeypatch.setenv("NAO_FAULTS", f"child-start:{action}:1")
    monkeypatch.setenv("NAO_FAULTS_DIR", str(state))
    cfg = _tiny_pool(tmp_path, "child.retries=1")
    out = steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 1, None, tmp_path / "r.jsonl")
    assert out["evaluated"] == 2 and out["failed"] == 0
    got = read_pool(tmp_path / "r.jsonl")
    assert sorted(e.extra.get("attempts", 1) for e in got) == [1, 2]  # one retry, then fine
    # no retries left: the fault is recorded, the other child goes on
    monkeypatch.setenv("NAO_FAULTS", f"child-start:{action}:2")
    cfg = _tiny_pool(tmp_path / "b", "child.retries=0")
    out = steps.train_children(cfg, tmp_path / "b" / "pool.jsonl", 0, 1, None, tmp_path / "b.jsonl")
    assert out == {"evaluated": 1, "failed": 1, "cached": 0}
    (bad,) = [e for e in read_pool(tmp_path / "b.jsonl") if e.status == "failed"]
    want = "OutOfMemoryError: injected" if action == "oom" else "InjectedFault: injected"
    assert bad.accuracy is None and bad.error is not None and bad.error.startswith(want)


def test_a_diverging_child_fails_with_its_loss_and_a_failed_round_is_an_error(
    tmp_path: Path,
) -> None:
    cfg = _tiny_pool(tmp_path, "child.lr_max=1e12", "child.grad_clip=0", "child.retries=0")
    out = steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 1, None, tmp_path / "r.jsonl")
    assert out["failed"] == 2
    errors = [e.error or "" for e in read_pool(tmp_path / "r.jsonl")]
    assert all(e.startswith("ChildDiverged: child: training loss is") for e in errors), errors
    with pytest.raises(
        NaoError,
        match=r"^round 1: all 2 architectures failed to evaluate; first error: ChildDiverged",
    ):
        steps.merge(cfg, 1, tmp_path / "pool.jsonl", [tmp_path / "r.jsonl"], tmp_path / "h.json",
                    tmp_path / "m.jsonl", tmp_path / "mh.json")  # fmt: skip
    assert not (tmp_path / "m.jsonl").exists()


def test_the_controller_never_trains_on_failed_records(tmp_path: Path) -> None:
    from search_tiny import synthetic_pool

    from nao_kfp.pool import write_pool

    cfg = tiny_config()
    good = synthetic_pool(cfg, 6)
    space = make_evaluator(cfg).space
    bad = [entry(space, a, status="failed", error="x", round=1) for a in
           space.sample_unique(3, __import__("random").Random(5), exclude={e.id for e in good})]  # fmt: skip
    write_pool(tmp_path / "pool.jsonl", good + bad)
    fit = steps.fit(cfg, 1, tmp_path / "pool.jsonl", tmp_path / "m")
    assert fit["n_train"] == 6


# ---------------------------------------------------------------- many writers, leftovers


def _writer(args: tuple[list[str], str, str, int]) -> None:
    sets, scratch, arch, n = args
    store = open_store(load_config("demo", sets).cluster, Path(scratch))
    cache = ChildCache(store, "enas", arch, "digest")
    tmp = Path(scratch) / f"ckpt-{arch}.pt"
    mirror = cache.mirror()
    for epoch in range(n):
        tmp.write_bytes(f"{arch}:{epoch}".encode() * 1000)
        mirror(tmp)
    cache.save_result(ChildResult(dev_accuracy=0.5, device=arch, epochs=n))


def test_eight_concurrent_children_leave_a_consistent_cache_in_one_bucket(
    s3_env: list[str], tmp_path: Path
) -> None:
    sets = [*s3_env, "cluster.s3_bucket=nao-concurrent"]
    archs = [f"arch{i:02d}" for i in range(8)]
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        pool.map(_writer, [(sets, str(tmp_path), a, 5) for a in archs])
    store = open_store(load_config("demo", sets).cluster, tmp_path)
    for a in archs:
        cache = ChildCache(store, "enas", a, "digest")
        assert cache.result() == ChildResult(dev_accuracy=0.5, device=a, epochs=5)
        assert cache.restore(tmp_path / f"{a}.pt")
        assert (tmp_path / f"{a}.pt").read_bytes() == f"{a}:4".encode() * 1000
        prev = tmp_path / f"{a}.prev.pt"
        assert store.get_file(previous_key(cache.checkpoint_key), prev)
        assert prev.read_bytes() == f"{a}:3".encode() * 1000
    assert len(store.list("results/")) == 8 and len(store.list("checkpoints/")) == 16


def test_work_dirs_of_killed_tasks_are_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = tmp_path / WORK_ROOT / f"{dead}-abc"
    stale.mkdir(parents=True)
    cfg = _tiny_pool(tmp_path)
    steps.train_children(cfg, tmp_path / "pool.jsonl", 0, 1, None, tmp_path / "r.jsonl")
    assert not stale.exists() and list((tmp_path / WORK_ROOT).iterdir()) == []
    assert not list(tmp_path.glob("nao-child-*"))


def test_waiting_for_the_store_or_a_child_retry_shows_a_progress_line() -> None:
    from nao_kfp.progress import format_event

    line = format_event({"event": "store_wait", "action": "upload", "key": "results/a.json",
                         "attempt": 2, "waited": 3.1, "retry_in": 2.0, "error": "down"})  # fmt: skip
    assert line == (
        "store: upload results/a.json failed (attempt 2, 3.1s so far); retrying in 2.0s: down"
    )
    line = format_event(
        {"event": "child_retry", "round": 1, "id": "ab", "error": "E: x", "left": 1}
    )
    assert line and "retrying from its last checkpoint (1 retries left)" in line
