"""The result/checkpoint store: both backends against real storage (a temp dir, a SeaweedFS server)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from s3server import S3Server, free_ports

from nao_kfp.config import ClusterConfig, load_config
from nao_kfp.results import ChildResult
from nao_kfp.store import (
    ChildCache,
    CorruptObject,
    LocalStore,
    S3Store,
    Store,
    StoreError,
    cached_result,
    checkpoint_key,
    mirror_checkpoint,
    open_store,
    restore_checkpoint,
    result_key,
)
from nao_kfp.store.base import MAGIC
from nao_kfp.store.local import _atomic_writer
from nao_kfp.store.safe import SafeStore, unwrap


def _s3(server: S3Server, prefix: str = "", bucket: str | None = None) -> S3Store:
    return S3Store(
        server.endpoint,
        bucket or server.bucket,
        server.access_key,
        server.secret_key,
        prefix=prefix,
    )


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """Each test gets an empty store: a fresh directory, or a fresh key prefix in the bucket."""
    if request.param == "local":
        yield "local", LocalStore(tmp_path / "store")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        yield "s3", _s3(server, prefix=f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def store(backend: tuple[str, Store]) -> Store:
    return backend[1]


def test_file_round_trip_exists_and_overwrite(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"\x00first\xff" * 100)
    key = "checkpoints/x/d/a/checkpoint.pt"
    assert not store.exists(key)
    store.put_file(key, src)
    assert store.exists(key)
    dest = tmp_path / "out" / "deep" / "a.bin"
    assert store.get_file(key, dest)
    assert dest.read_bytes() == src.read_bytes()
    src.write_bytes(b"second")
    store.put_file(key, src)
    assert store.get_file(key, dest)
    assert dest.read_bytes() == b"second"


def test_missing_objects_read_as_absent(store: Store, tmp_path: Path) -> None:
    dest = tmp_path / "never.bin"
    assert store.get_file("results/none.json", dest) is False
    assert not dest.exists()
    assert store.get_json("results/none.json") is None
    assert store.get_bytes("results/none.json") is None
    assert store.list("results/") == []
    store.delete("results/none.json")  # no error


def test_json_round_trip_and_delete(store: Store) -> None:
    obj = {"dev_accuracy": 0.9375, "params": 12345, "nested": {"a": [1, 2.5, None]}}
    store.put_json("results/s/d/arch.json", obj)
    assert store.get_json("results/s/d/arch.json") == obj
    store.delete("results/s/d/arch.json")
    assert not store.exists("results/s/d/arch.json")
    assert store.get_json("results/s/d/arch.json") is None


def test_list_is_a_sorted_string_prefix_match(store: Store) -> None:
    keys = ["results/a/2.json", "results/a/1.json", "results/ab/3.json", "checkpoints/a/x/c.pt"]
    for i, k in enumerate(keys):
        store.put_bytes(k, str(i).encode())
    assert store.list("results/a/") == ["results/a/1.json", "results/a/2.json"]
    assert store.list("results/a") == ["results/a/1.json", "results/a/2.json", "results/ab/3.json"]
    assert store.list() == sorted(keys)


@pytest.mark.parametrize("bad", ["", "/abs/key", "a/../b", "a//b", "./a", "a/"])
def test_malformed_keys_are_refused_with_the_key_named(store: Store, bad: str) -> None:
    with pytest.raises(StoreError, match="store key"):
        store.put_bytes(bad, b"x")


def test_json_that_is_not_an_object_is_an_error(store: Store) -> None:
    store.put_bytes("results/bad.json", b"[1, 2]")
    store.put_bytes("results/broken.json", b"{not json")
    with pytest.raises(StoreError, match="results/bad.json.*JSON object"):
        store.get_json("results/bad.json")
    with pytest.raises(StoreError, match="results/broken.json.*not valid JSON"):
        store.get_json("results/broken.json")


def test_keys_layout_and_parts() -> None:
    assert result_key("enas", "abc123", "d1") == "results/enas/d1/abc123.json"
    assert checkpoint_key("enas", "abc123", "d1") == "checkpoints/enas/d1/abc123/checkpoint.pt"
    with pytest.raises(StoreError, match="'a/b'"):
        result_key("enas", "a/b", "d1")
    with pytest.raises(StoreError, match="''"):
        checkpoint_key("", "a", "d1")


# ---------------------------------------------------------------- the child cache


def test_result_cache_second_lookup_finds_the_result(
    backend: tuple[str, Store], s3_or_none: S3Server | None
) -> None:
    kind, store = backend
    cache = ChildCache(store, "enas", "arch0001", "digestA")
    assert cache.result() is None
    result = ChildResult(dev_accuracy=0.81, epochs=2, seconds=1.5)
    cache.save_result(result)
    # A fresh store object (as in the next pod or the next round) sees the same result.
    again = _reopen(kind, store, s3_or_none)
    assert cached_result(again, result_key("enas", "arch0001", "digestA")) == result
    # A different training config is a different entry.
    assert ChildCache(again, "enas", "arch0001", "digestB").result() is None


def test_mirror_keeps_the_latest_epoch_and_restore_fetches_it(store: Store, tmp_path: Path) -> None:
    cache = ChildCache(store, "nb201", "arch7", "d")
    mirror = cache.mirror()
    ckpt = tmp_path / "pod1" / "checkpoint.pt"
    ckpt.parent.mkdir()
    for epoch in range(1, 4):
        ckpt.write_bytes(json.dumps({"epoch": epoch}).encode())
        mirror(ckpt)
    fresh = tmp_path / "pod2" / "checkpoint.pt"
    assert cache.restore(fresh)
    assert json.loads(fresh.read_bytes()) == {"epoch": 3}
    # A local checkpoint is at least as recent as the mirror: it is kept, not overwritten.
    fresh.write_bytes(b'{"epoch": 4}')
    assert restore_checkpoint(store, cache.checkpoint_key, fresh)
    assert json.loads(fresh.read_bytes()) == {"epoch": 4}
    # Nothing mirrored yet: nothing to resume from.
    other = tmp_path / "pod3" / "checkpoint.pt"
    assert not ChildCache(store, "nb201", "arch8", "d").restore(other)
    assert not other.exists()


_CHILD_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    from nao_kfp.config import ClusterConfig, load_config
    from nao_kfp.store import ChildCache, open_store

    endpoint, store_dir, arch_id, work, mode = sys.argv[1:6]
    store = open_store(ClusterConfig(s3_endpoint=endpoint, s3_bucket=os.environ["BUCKET"],
                                     store_dir=store_dir), Path(work) / "default")
    cache = ChildCache(store, "enas", arch_id, "digest")
    ckpt = Path(work) / "checkpoint.pt"
    if mode == "train":
        mirror = cache.mirror()
        for epoch in (1, 2):
            ckpt.write_text(json.dumps({"epoch": epoch}))
            mirror(ckpt)
        os._exit(137)  # killed mid-training: no result, no cleanup
    print(json.dumps({"resumed": cache.restore(ckpt),
                      "checkpoint": json.loads(ckpt.read_text()) if ckpt.exists() else None}))
    """
)


def test_checkpoint_mirrored_by_a_killed_process_is_restored_by_another(
    backend: tuple[str, Store], s3_or_none: S3Server | None, tmp_path: Path
) -> None:
    kind, _ = backend
    arch_id = f"arch{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "BUCKET": s3_or_none.bucket if s3_or_none else "unused"}
    endpoint, store_dir = "", str(tmp_path / "shared-store")
    if kind == "s3":
        assert s3_or_none is not None
        env.update(s3_or_none.env())
        endpoint = s3_or_none.endpoint

    def run(mode: str, work: Path) -> subprocess.CompletedProcess[str]:
        work.mkdir()
        args = [sys.executable, "-c", _CHILD_SCRIPT, endpoint, store_dir, arch_id, str(work), mode]
        return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)

    first = run("train", tmp_path / "pod1")
    assert first.returncode == 137, first.stderr
    second = run("resume", tmp_path / "pod2")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == {"resumed": True, "checkpoint": {"epoch": 2}}


# ---------------------------------------------------------------- local specifics


def test_local_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("results/a.json", b'{"v": 1}')
    target = tmp_path / "results" / "a.json"
    with pytest.raises(RuntimeError), _atomic_writer(target) as f:
        f.write(b'{"v": 2, "trunc')
        raise RuntimeError("killed mid-write")
    assert store.get_json("results/a.json") == {"v": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json", "a.json.sha256"]


def test_local_list_skips_writers_temp_files(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("results/a.json", b"{}")
    (tmp_path / "results" / f".b.json.123{LocalStore._TMP_SUFFIX}").write_bytes(b"{")
    assert store.list("results/") == ["results/a.json"]


# ---------------------------------------------------------------- S3 specifics


def test_s3_creates_a_missing_bucket(s3_server: S3Server, tmp_path: Path) -> None:
    bucket = f"nao-new-{uuid.uuid4().hex[:8]}"
    # SeaweedFS may answer 500 while a new bucket's first volume grows (a loaded machine):
    # the product's SafeStore retries that, as it would any transient failure
    store = SafeStore(_s3(s3_server, bucket=bucket), delay_s=0.5)
    store.put_json("x.json", {"ok": True})
    assert SafeStore(_s3(s3_server, bucket=bucket)).get_json("x.json") == {"ok": True}


def test_s3_prefixes_isolate_stores_in_one_bucket(s3_server: S3Server) -> None:
    a, b = _s3(s3_server, prefix="pa-" + uuid.uuid4().hex[:6]), _s3(s3_server, prefix="pb/deep")
    a.put_json("results/k.json", {"who": "a"})
    assert not b.exists("results/k.json")
    assert a.list("results/") == ["results/k.json"]


def test_s3_credentials_never_show_in_repr_or_errors(s3_server: S3Server, tmp_path: Path) -> None:
    store = _s3(s3_server)
    for text in (repr(store), str(store), repr(vars(store))):
        assert s3_server.secret_key not in text
        assert s3_server.access_key not in text
    wrong_secret = "wrong-secret-" + uuid.uuid4().hex
    with pytest.raises(StoreError) as err:
        S3Store(s3_server.endpoint, s3_server.bucket, s3_server.access_key, wrong_secret)
    message = str(err.value)
    assert "\n" not in message and s3_server.endpoint in message
    assert wrong_secret not in message and s3_server.access_key not in message
    with pytest.raises(StoreError) as err:
        S3Store(s3_server.endpoint, s3_server.bucket, "no-such-user", s3_server.secret_key)
    assert s3_server.secret_key not in str(err.value)
    # A failed mirror upload raises one line without credentials (the task fails, KFP retries).
    mirror = mirror_checkpoint(store, "checkpoints/x/../y")
    (tmp_path / "c.pt").write_bytes(b"c")
    with pytest.raises(StoreError) as err:
        mirror(tmp_path / "c.pt")
    assert s3_server.secret_key not in str(err.value) and "\n" not in str(err.value)


def test_s3_unreachable_endpoint_fails_fast_with_one_line(s3_server: S3Server) -> None:
    (port,) = free_ports(1)
    start = time.monotonic()
    with pytest.raises(StoreError, match=f"127.0.0.1:{port}") as err:
        S3Store(f"127.0.0.1:{port}", "nao-gone", s3_server.access_key, s3_server.secret_key)
    assert time.monotonic() - start < 20
    assert "\n" not in str(err.value) and s3_server.secret_key not in str(err.value)


def test_s3_invalid_bucket_name_names_the_config_key(s3_server: S3Server) -> None:
    with pytest.raises(StoreError, match="^cluster.s3_bucket: 'B_'"):
        _s3(s3_server, bucket="B_")


# ---------------------------------------------------------------- open_store


def test_open_store_local_default_and_store_dir(tmp_path: Path) -> None:
    default = unwrap(open_store(ClusterConfig(), tmp_path / "default"))
    assert isinstance(default, LocalStore) and default.root == tmp_path / "default"
    chosen = unwrap(
        open_store(ClusterConfig(store_dir=str(tmp_path / "chosen")), tmp_path / "default")
    )
    assert isinstance(chosen, LocalStore) and chosen.root == tmp_path / "chosen"


def test_open_store_s3_needs_both_env_variables(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cluster = ClusterConfig(s3_endpoint=f"http://{s3_server.endpoint}", s3_bucket=s3_server.bucket)
    monkeypatch.delenv("S3_ACCESS_KEY", raising=False)
    monkeypatch.delenv("S3_SECRET_KEY", raising=False)
    with pytest.raises(StoreError, match="^S3_ACCESS_KEY: environment variable not set"):
        open_store(cluster, tmp_path)
    monkeypatch.setenv("S3_ACCESS_KEY", s3_server.access_key)
    with pytest.raises(StoreError, match="^S3_SECRET_KEY: .*secret 'nao-s3'"):
        open_store(cluster, tmp_path)
    monkeypatch.setenv("S3_SECRET_KEY", s3_server.secret_key)
    store = unwrap(open_store(cluster, tmp_path))
    assert isinstance(store, S3Store) and store.endpoint == s3_server.endpoint
    store.put_json("results/open.json", {"x": 1})
    assert _s3(s3_server).get_json("results/open.json") == {"x": 1}


def test_open_store_rejects_an_endpoint_with_a_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("S3_ACCESS_KEY", "a")
    monkeypatch.setenv("S3_SECRET_KEY", "b")
    with pytest.raises(StoreError, match="^cluster.s3_endpoint: expected host:port"):
        open_store(ClusterConfig(s3_endpoint="minio.nao:9000/bucket"), tmp_path)


# ---------------------------------------------------------------- helpers


@pytest.fixture
def s3_or_none(backend: tuple[str, Store], request: pytest.FixtureRequest) -> S3Server | None:
    return request.getfixturevalue("s3_server") if backend[0] == "s3" else None


def _reopen(kind: str, store: Store, server: S3Server | None) -> Store:
    if kind == "local":
        assert isinstance(store, LocalStore)
        return LocalStore(store.root)
    assert isinstance(store, S3Store) and server is not None
    return _s3(server, prefix=store.prefix)


def test_s3_env_fixture_points_open_store_at_the_server(s3_env: list[str], tmp_path: Path) -> None:
    cfg = load_config("demo", s3_env)
    store = open_store(cfg.cluster, tmp_path)
    assert isinstance(unwrap(store), S3Store)
    store.put_json("results/fixture.json", {"ok": 1})
    assert store.get_json("results/fixture.json") == {"ok": 1}


def test_the_store_imports_neither_kfp_nor_torch() -> None:
    """The library layer never imports kfp; the store is also light enough for any step."""
    code = "import sys, nao_kfp.store; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = set(json.loads(out.stdout.replace("'", '"')))
    assert not loaded & {"kfp", "torch", "minio"}, loaded & {"kfp", "torch", "minio"}


# ---------------------------------------------------------------- checksums beside the objects


def _raw(server: S3Server) -> Minio:
    """A plain client: what a user's own S3 tools see."""
    return Minio(server.endpoint, server.access_key, server.secret_key, secure=False)


def _plant(kind: str, store: Store, server: S3Server | None, key: str, data: bytes) -> None:
    """Write an object as a foreign writer would: the bytes only, no checksum beside them."""
    if kind == "local":
        assert isinstance(store, LocalStore)
        (store.root / key).parent.mkdir(parents=True, exist_ok=True)
        (store.root / key).write_bytes(data)
    else:
        assert isinstance(store, S3Store) and server is not None
        _raw(server).put_object(server.bucket, store._name(key), io.BytesIO(data), len(data))


def test_the_stored_object_is_the_file_itself_with_its_sha256_beside_it(
    backend: tuple[str, Store], s3_or_none: S3Server | None, tmp_path: Path
) -> None:
    kind, store = backend
    src = tmp_path / "checkpoint.pt"
    src.write_bytes(os.urandom(3000))
    want = hashlib.sha256(src.read_bytes()).hexdigest()
    key = "checkpoints/enas/d/a/checkpoint.pt"
    store.put_file(key, src)
    if kind == "local":
        assert isinstance(store, LocalStore)
        obj = store.root / key
        assert obj.read_bytes() == src.read_bytes()
        assert (obj.parent / "checkpoint.pt.sha256").read_text() == f"{want}  checkpoint.pt\n"
        check = subprocess.run(["sha256sum", "-c", "checkpoint.pt.sha256"], cwd=obj.parent,
                               capture_output=True, text=True)  # fmt: skip
        assert check.returncode == 0 and check.stdout == "checkpoint.pt: OK\n"
        assert store.list() == [key]  # the sidecar is not an object
    else:
        assert isinstance(store, S3Store) and s3_or_none is not None
        resp = _raw(s3_or_none).get_object(s3_or_none.bucket, store._name(key))
        assert resp.read() == src.read_bytes()
        assert resp.headers["x-amz-meta-nao-sha256"] == want
        resp.close()
    store.copy(key, "checkpoints/enas/d/a/checkpoint.prev.pt")  # the checksum goes along
    assert store.get_bytes("checkpoints/enas/d/a/checkpoint.prev.pt") == src.read_bytes()


def test_an_object_without_a_checksum_is_not_there(
    backend: tuple[str, Store], s3_or_none: S3Server | None, tmp_path: Path
) -> None:
    kind, store = backend
    _plant(kind, store, s3_or_none, "results/s/d/half.json", b'{"dev_accuracy": 0.5}')
    assert not store.exists("results/s/d/half.json")
    assert store.get_bytes("results/s/d/half.json") is None
    assert not store.get_file("results/s/d/half.json", tmp_path / "half.json")
    assert not (tmp_path / "half.json").exists()
    if kind == "local":  # S3 lists what the bucket holds; reads decide
        assert store.list("results/") == []


def test_objects_written_in_the_old_frame_still_read(
    backend: tuple[str, Store], s3_or_none: S3Server | None, tmp_path: Path
) -> None:
    kind, store = backend
    payload = b"\x80\x02old checkpoint" * 50
    framed = MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    _plant(kind, store, s3_or_none, "checkpoints/s/d/a/checkpoint.pt", framed)
    assert store.exists("checkpoints/s/d/a/checkpoint.pt")
    assert store.get_file("checkpoints/s/d/a/checkpoint.pt", tmp_path / "c.pt")
    assert (tmp_path / "c.pt").read_bytes() == payload
    _plant(kind, store, s3_or_none, "checkpoints/s/d/b/checkpoint.pt", framed[:-9])  # truncated
    with pytest.raises(CorruptObject, match="checkpoints/s/d/b/checkpoint.pt.*checksum mismatch"):
        store.get_file("checkpoints/s/d/b/checkpoint.pt", tmp_path / "b.pt")
    assert not (tmp_path / "b.pt").exists()


def test_a_corrupted_object_is_refused_and_never_written_out(
    backend: tuple[str, Store], s3_or_none: S3Server | None, tmp_path: Path
) -> None:
    kind, store = backend
    key = "checkpoints/s/d/a/checkpoint.pt"
    store.put_bytes(key, b"the real weights" * 100)
    if kind == "local":
        assert isinstance(store, LocalStore)
        obj = store.root / key
        obj.write_bytes(obj.read_bytes().replace(b"real", b"rot!", 1))
    else:  # a foreign writer keeping the old metadata
        assert isinstance(store, S3Store) and s3_or_none is not None
        meta = _raw(s3_or_none).stat_object(s3_or_none.bucket, store._name(key)).metadata
        body = b"the rot! weights" + b"the real weights" * 99
        _raw(s3_or_none).put_object(s3_or_none.bucket, store._name(key), io.BytesIO(body),
                                    len(body), metadata={"nao-sha256": meta["x-amz-meta-nao-sha256"]})  # fmt: skip
    for read in (lambda: store.get_bytes(key), lambda: store.get_file(key, tmp_path / "x.pt")):
        with pytest.raises(CorruptObject, match="checksum mismatch"):
            read()
    assert not (tmp_path / "x.pt").exists()
    assert SafeStore(store, on_corrupt=lambda msg: None).get_bytes(key) is None
    if kind == "local":  # a local copy is checked too: the target keeps what it held
        store.put_bytes("checkpoints/s/d/a/checkpoint.prev.pt", b"epoch 1")
        with pytest.raises(CorruptObject):
            store.copy(key, "checkpoints/s/d/a/checkpoint.prev.pt")
        assert store.get_bytes("checkpoints/s/d/a/checkpoint.prev.pt") == b"epoch 1"


def test_s3_multipart_uploads_carry_the_checksum_of_the_whole_object(
    s3_server: S3Server, tmp_path: Path
) -> None:
    store = _s3(s3_server, prefix=f"mp-{uuid.uuid4().hex[:8]}")
    src = tmp_path / "big.pt"
    src.write_bytes(os.urandom(6 * 1024 * 1024))  # above minio's 5 MiB part size
    store.put_file("checkpoints/big.pt", src)
    stat = _raw(s3_server).stat_object(s3_server.bucket, store._name("checkpoints/big.pt"))
    assert stat.etag is not None and stat.etag.endswith("-2")  # two parts
    assert stat.metadata["x-amz-meta-nao-sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.get_file("checkpoints/big.pt", tmp_path / "back.pt")
    assert (tmp_path / "back.pt").read_bytes() == src.read_bytes()


_WRITER = textwrap.dedent(
    """
    import sys
    from nao_kfp.store import LocalStore
    store, i = LocalStore(sys.argv[1]), 0
    print("ready", flush=True)
    while True:
        i += 1
        store.put_bytes("checkpoints/a/checkpoint.pt", str(i).encode() * (1000 + i % 7919))
    """
)


def test_a_writer_killed_at_any_moment_never_leaves_a_sidecar_that_disagrees(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    obj = root / "checkpoints" / "a" / "checkpoint.pt"
    seen = set()
    for delay in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(root)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        time.sleep(delay)
        proc.kill()  # SIGKILL: no cleanup, wherever it was
        proc.wait()
        side = obj.with_name("checkpoint.pt.sha256")
        if side.exists():
            assert side.read_text().split()[0] == hashlib.sha256(obj.read_bytes()).hexdigest()
            seen.add("with sidecar")
        else:
            seen.add("without")
        got = LocalStore(root).get_bytes("checkpoints/a/checkpoint.pt")
        assert got is None if not side.exists() else got == obj.read_bytes()
    assert "with sidecar" in seen  # the kills landed at different moments
