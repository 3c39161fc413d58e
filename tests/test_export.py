"""`nao export`: a child checkpoint becomes a model that loads and predicts with torch alone."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from minio import Minio
from s3server import S3Server

from nao_kfp import export
from nao_kfp.child import data as image_data
from nao_kfp.child import train_child
from nao_kfp.child.cnn import CellNetwork, NetSpec
from nao_kfp.cli import main
from nao_kfp.config import load_config
from nao_kfp.results import ChildResult
from nao_kfp.spaces import get_space
from nao_kfp.store import LocalStore, checkpoint_key, open_store, result_key
from nao_kfp.store.base import MAGIC

CHILD = [
    "search.space=enas", "child.dataset=digits", "child.layers=1", "child.channels=4",
    "child.dev_size=200", "child.train_subset=300", "child.epochs=1", "child.batch_size=64",
    "child.device=cpu", "child.cpu_threads=1", "child.aux_head=true", "child.dropout=0.2",
]  # fmt: skip

# Runs with -I (no PYTHONPATH, no current folder) and with nao_kfp made unimportable: the
# exported program must load and run with nothing but torch.
ISOLATED = textwrap.dedent(
    """
    import sys
    sys.modules["nao_kfp"] = None  # any `import nao_kfp` now raises ImportError
    import torch
    program, inputs, out = sys.argv[1:4]
    model = torch.export.load(program).module()
    x = torch.load(inputs)
    torch.save({"logits": model(x), "one": model(x[:1])}, out)
    assert not [m for m in sys.modules if m.startswith("nao_kfp.")]
    """
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, ChildResult]:
    cfg = load_config(None, CHILD)
    space = get_space("enas")
    arch = space.sample(random.Random(2))
    out = tmp_path_factory.mktemp("child")
    result = train_child(space, arch, cfg.child, out, seed=0)
    return out, cfg, result


@pytest.fixture(scope="module")
def exported(
    trained: tuple[Path, Any, ChildResult], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return export.export_model(trained[0] / "checkpoint.pt", tmp_path_factory.mktemp("model"))


def reference_logits(ckpt_dir: Path, cfg: Any, x: torch.Tensor) -> torch.Tensor:
    """What the child checkpoint's own network says: rebuilt from its spec, aux head and all,
    fed images normalized as training normalized them."""
    state = torch.load(ckpt_dir / "checkpoint.pt", weights_only=True)
    net = CellNetwork(get_space(state["space"]).from_json(state["arch"]), NetSpec(**state["spec"]))
    net.load_state_dict(state["model"])
    split = image_data.split(image_data.load_images(cfg.child), cfg.child)
    mean = torch.tensor(split.mean).view(1, -1, 1, 1)
    std = torch.tensor(split.std).view(1, -1, 1, 1)
    with torch.no_grad():
        return net.eval()((x - mean) / std)[0]


def test_the_exported_program_predicts_like_the_checkpoint_with_torch_alone(
    trained: tuple[Path, Any, ChildResult], exported: dict[str, Any], tmp_path: Path
) -> None:
    ckpt_dir, cfg, result = trained
    out = exported
    images = image_data.load_images(cfg.child)
    x = images.test_x.float() / 255
    torch.save(x, tmp_path / "x.pt")
    proc = subprocess.run(
        [sys.executable, "-I", "-c", ISOLATED, out.program, str(tmp_path / "x.pt"),
         str(tmp_path / "y.pt")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = torch.load(tmp_path / "y.pt")
    want = reference_logits(ckpt_dir, cfg, x)
    assert got["logits"].shape == (len(x), 10)
    torch.testing.assert_close(got["logits"], want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got["one"], want[:1], rtol=1e-4, atol=1e-4)  # any batch size
    # the exported model scores the test set exactly as training reported it
    accuracy = float((got["logits"].argmax(1) == images.test_y).float().mean())
    assert accuracy == pytest.approx(result.test_accuracy)
    with torch.no_grad():
        rebuilt = export.load_classifier(Path(out.model))(x)
    torch.testing.assert_close(rebuilt, want, rtol=1e-5, atol=1e-5)


def test_the_checkpoint_describes_itself(
    trained: tuple[Path, Any, ChildResult], exported: dict[str, Any]
) -> None:
    _ckpt_dir, cfg, result = trained
    out = exported
    record = torch.load(out.model, weights_only=True)
    space = get_space("enas")
    arch = space.from_json(record["arch"])
    assert record["format"] == "nao-kfp-model" and record["space"] == "enas"
    assert record["arch_string"] == space.to_string(arch) and record[
        "arch_id"
    ] == space.canonical_id(arch)
    assert record["spec"]["aux_head"] is False and not any(
        k.startswith("aux_head.") for k in record["state_dict"]
    )
    assert record["classes"] == 10 and record["class_names"] == [str(i) for i in range(10)]
    assert record["input"] == {"channels": 1, "size": 8, "range": [0.0, 1.0]}
    split = image_data.split(image_data.load_images(cfg.child), cfg.child)
    assert record["normalize"] == {"mean": list(split.mean), "std": list(split.std)}
    assert record["metrics"]["test_accuracy"] == result.test_accuracy
    assert record["metrics"]["params"] == sum(v.numel() for k, v in record["state_dict"].items()
                                              if "running_" not in k and "num_batches" not in k)  # fmt: skip
    info = json.loads(Path(out.info).read_text())
    assert "state_dict" not in info and info["arch_id"] == record["arch_id"]
    assert info["load"] == out.load and "torch.export.load" in out.load


def test_the_load_command_runs(
    exported: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    python, flag, code = shlex.split(exported.load)
    assert (python, flag) == ("python", "-c") and "nao_kfp" not in code
    exec(code, {})  # what the command runs (the isolated run above shows torch alone suffices)
    assert capsys.readouterr().out.startswith("tensor([")


def test_an_older_checkpoint_needs_the_child_config(
    trained: tuple[Path, Any, ChildResult], tmp_path: Path
) -> None:
    ckpt_dir, cfg, _ = trained
    state = torch.load(ckpt_dir / "checkpoint.pt", weights_only=True)
    for key in ("normalize", "class_names", "dataset"):
        del state[key]
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(export.ExportError, match="records no data normalization.*--config"):
        export.export_model(tmp_path / "old.pt", tmp_path / "a")
    old = export.model_record(state, child_cfg=cfg.child)
    new = export.model_record(torch.load(ckpt_dir / "checkpoint.pt", weights_only=True))
    assert old["normalize"] == new["normalize"] and old["class_names"] == new["class_names"]


def test_nao_export_command(
    trained: tuple[Path, Any, ChildResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = ["export", "--checkpoint", str(trained[0]), "--out", str(tmp_path / "cli")]
    assert main([*cli, "--no-aot-compile"]) == 0  # tests/test_serve.py compiles one package
    line = json.loads(capsys.readouterr().out)
    assert Path(line["program"]).is_file() and Path(line["model"]).is_file()
    assert line["package"] is None and not (tmp_path / "cli" / "model.aoti.pt2").exists()
    assert (
        main(["export", "--checkpoint", str(tmp_path / "nothing.pt"), "--out", str(tmp_path)]) == 2
    )
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["export", "--checkpoint", str(tmp_path / "junk.pt"), "--out", str(tmp_path)]) == 2
    assert "not a torch checkpoint" in capsys.readouterr().err


def test_language_models_are_refused_with_one_line(tmp_path: Path) -> None:
    space = get_space("enas-rnn")
    arch = space.sample(random.Random(0))
    torch.save(
        {"arch": space.to_json(arch), "space": space.name, "model": {}, "spec": {}},
        tmp_path / "c.pt",
    )
    with pytest.raises(export.ExportError, match="enas-rnn children are not exported"):
        export.export_model(tmp_path / "c.pt", tmp_path / "o")


# ---------------------------------------------------------------- checkpoints in the store


def test_a_store_checkpoint_exports_and_a_corrupted_one_is_refused_in_one_line(
    trained: tuple[Path, Any, ChildResult], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = LocalStore(tmp_path / "store")
    key = checkpoint_key("enas", "a1", "d1")
    store.put_file(key, trained[0] / "checkpoint.pt")
    ckpt = tmp_path / "store" / key
    torch.load(ckpt, weights_only=True)  # a plain torch file, as any tool opens it
    fast = "--no-aot-compile"  # tests/test_serve.py compiles one package
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "m"), fast]) == 0
    assert (tmp_path / "m" / "model.pt2").is_file()
    capsys.readouterr()
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"nao: error: --checkpoint {ckpt}: checksum mismatch (corrupted or truncated); not loaded\n"
    )
    assert not (tmp_path / "bad").exists()


def test_a_store_checkpoint_exports_with_the_metrics_of_its_stored_result(
    trained: tuple[Path, Any, ChildResult], tmp_path: Path
) -> None:
    """What `nao search` prints to serve the best child: its checkpoint's path in the run's
    store, with no result.json beside it; model.json gets the metrics from the store's result."""
    ckpt_dir, _cfg, result = trained
    store = LocalStore(tmp_path / "store")
    store.put_file(checkpoint_key("enas", "a1", "d1"), ckpt_dir / "checkpoint.pt")
    store.put_json(result_key("enas", "a1", "d1"), {**result.to_json(), "dev_accuracy": 0.25})
    out = export.export_model(
        tmp_path / "store" / checkpoint_key("enas", "a1", "d1"), tmp_path / "m"
    )
    info = json.loads(Path(out.info).read_text())
    want = {"dev_accuracy": 0.25, "test_accuracy": result.test_accuracy,
            "params": result.params, "macs": result.macs}  # fmt: skip
    assert {k: info["metrics"].get(k) for k in want} == want == {k: out.metrics[k] for k in want}
    # a checkpoint outside a store's layout, with nothing beside it: no metrics, still exported
    lone = tmp_path / "lone" / "checkpoint.pt"
    lone.parent.mkdir()
    lone.write_bytes((ckpt_dir / "checkpoint.pt").read_bytes())
    assert export.export_model(lone, tmp_path / "m2").metrics == {}


def test_a_checkpoint_in_the_old_framed_store_format_still_exports(
    trained: tuple[Path, Any, ChildResult], tmp_path: Path
) -> None:
    payload = (trained[0] / "checkpoint.pt").read_bytes()
    old = tmp_path / "checkpoint.pt"
    old.write_bytes(MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    out = export.export_model(old, tmp_path / "m")
    assert Path(out.program).is_file()


def test_an_s3_checkpoint_exports_through_the_store(
    trained: tuple[Path, Any, ChildResult],
    s3_env: list[str],
    s3_server: S3Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key = checkpoint_key("enas", f"s3-{tmp_path.name}", "d1")
    open_store(load_config("demo", s3_env).cluster, tmp_path).put_file(
        key, trained[0] / "checkpoint.pt"
    )
    open_store(load_config("demo", s3_env).cluster, tmp_path).put_json(
        result_key("enas", f"s3-{tmp_path.name}", "d1"), trained[2].to_json()
    )
    url = f"s3://{s3_server.bucket}/{key}"
    endpoint = ["--set", f"cluster.s3_endpoint={s3_server.endpoint}"]
    endpoint += ["--no-aot-compile"]  # tests/test_serve.py compiles one package
    assert main(["export", "--checkpoint", url, *endpoint, "--out", str(tmp_path / "m")]) == 0
    line = json.loads(capsys.readouterr().out)
    assert Path(line["program"]).is_file() and line["arch_id"]
    assert line["metrics"]["test_accuracy"] == trained[2].test_accuracy  # the store's result
    # without the endpoint, and for a missing object: one line each
    assert main(["export", "--checkpoint", url, "--out", str(tmp_path / "x")]) == 2
    assert "pass --set cluster.s3_endpoint=HOST:PORT" in capsys.readouterr().err
    gone = f"s3://{s3_server.bucket}/checkpoints/none/checkpoint.pt"
    assert main(["export", "--checkpoint", gone, *endpoint, "--out", str(tmp_path / "x")]) == 2
    assert (
        capsys.readouterr().err
        == f"nao: error: --checkpoint {gone}: no such object (with a checksum) in the store\n"
    )
    # a corrupted object (a foreign writer kept the checksum metadata) is refused
    raw = Minio(s3_server.endpoint, s3_server.access_key, s3_server.secret_key, secure=False)
    meta = raw.stat_object(s3_server.bucket, key).metadata
    body = (trained[0] / "checkpoint.pt").read_bytes()[:-10]
    raw.put_object(s3_server.bucket, key, io.BytesIO(body), len(body),
                   metadata={"nao-sha256": meta["x-amz-meta-nao-sha256"]})  # fmt: skip
    assert main(["export", "--checkpoint", url, *endpoint, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"nao: error: --checkpoint {url}: checksum mismatch (corrupted or truncated); not loaded\n"
    )
    assert not (tmp_path / "x").exists()
