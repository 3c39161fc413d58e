"""`nao serve`: the exported model behind KServe's model server, as a real process on 127.0.0.1.

The model is exported once with its AOTInductor package (the one compile of the suite, a
minute or more). Both protocols answer the logits that package computes for the same pixels
(the exported program's, to float precision), with the class names; without a package, or with
one that does not load, the server runs the program; every bad payload is an HTTP 400 with one
line; the server stops on SIGTERM."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from nao_kfp import export
from nao_kfp.child import train_child
from nao_kfp.config import load_config
from nao_kfp.spaces import get_space
from nao_kfp.units import si

CHILD = [
    "search.space=enas", "child.dataset=digits", "child.layers=1", "child.channels=4",
    "child.dev_size=200", "child.train_subset=300", "child.epochs=1", "child.batch_size=64",
    "child.device=cpu", "child.cpu_threads=1",
]  # fmt: skip
SHAPE = (1, 8, 8)  # digits: one channel, 8×8
START_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained (one epoch) child, as tests/test_export.py makes one."""
    cfg = load_config(None, CHILD)
    space = get_space("enas")
    ckpt = tmp_path_factory.mktemp("child")
    train_child(space, space.sample(random.Random(2)), cfg.child, ckpt, seed=0)
    return ckpt / "checkpoint.pt"


@pytest.fixture(scope="module")
def model_dir(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The child exported with its AOTInductor package (this machine has g++)."""
    out = tmp_path_factory.mktemp("model")
    lines: list[str] = []
    done = export.export_model(checkpoint, out, aot_compile=True, log=lines.append)
    assert done.package == str(out / "model.aoti.pt2"), lines
    assert done.compile_seconds is not None and done.compile_seconds > 0
    assert lines[-1] == f"export: model.aoti.pt2 compiled in {done.compile_seconds:.0f} s"
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path):
        self.proc, self.port, self.log = proc, port, log

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """body: bytes as they are, or JSON ("content-type" in it: that header instead)."""
        kind = "application/json"
        if isinstance(body, dict) and "content-type" in body:
            body = dict(body)
            kind = body.pop("content-type")
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"content-type": kind},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    pytest.importorskip("kserve", reason="the serve extra (pip install -e '.[serve]')")
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nao_kfp.cli", "serve", str(model_dir), "--port", str(port),
             "--host", "127.0.0.1", "--threads", "1"],
            stdout=f, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    srv = Server(proc, port, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert proc.poll() is None, f"nao serve exited {proc.returncode}:\n{log.read_text()}"
        try:
            if srv.call("GET", "/v2/health/ready")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, f"nao serve not ready:\n{log.read_text()}"
        time.sleep(0.3)
    yield srv
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_serve_says_what_model_it_serves_and_how_good_it_is(
    server: Server, model_dir: Path
) -> None:
    """The first lines of `nao serve`: the architecture and the metrics model.json carries
    (in percent, as the search's progress and report show them), then where to send a request."""
    info = json.loads((model_dir / "model.json").read_text())
    metrics = info["metrics"]
    head = server.log.read_text().splitlines()[:2]
    assert head[0] == (
        f"nao serve: enas cell {info['arch_id']} trained on digits: dev accuracy "
        f"{100 * metrics['dev_accuracy']:.2f}%, test accuracy {100 * metrics['test_accuracy']:.2f}%, "
        f"{si(metrics['params'])} params, {si(metrics['macs'])} multiply-adds"
    ), head
    assert head[1] == (
        f"nao serve: POST http://localhost:{server.port}/v2/models/nao/infer with inputs[0] "
        "named pixels, FP32 [N, 1, 8, 8], values in [0, 1]"
    )


def pixels(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(seed))


def program_logits(model_dir: Path, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.export.load(str(model_dir / "model.pt2")).module()(x)


def package_logits(model_dir: Path, x: torch.Tensor) -> torch.Tensor:
    """What the served package computes (and, to float precision, what the program does)."""
    got = torch._inductor.aoti_load_package(str(model_dir / "model.aoti.pt2"))(x)
    torch.testing.assert_close(got, program_logits(model_dir, x), rtol=1e-4, atol=1e-4)
    return got


def v2_body(x: torch.Tensor, **over: Any) -> dict[str, Any]:
    tensor = {"name": "pixels", "shape": list(x.shape), "datatype": "FP32",
              "data": x.flatten().tolist()} | over  # fmt: skip
    return {"inputs": [tensor]}


def test_metadata_names_the_inputs_and_outputs(server: Server, model_dir: Path) -> None:
    code, meta = server.call("GET", "/v2/models/nao")
    assert code == 200 and meta["name"] == "nao"
    assert meta["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, *SHAPE]}]
    assert [o["name"] for o in meta["outputs"]] == ["logits", "class_names"]
    assert meta["outputs"][0] == {"name": "logits", "datatype": "FP32", "shape": [-1, 10]}


def test_v2_infer_returns_the_programs_logits_and_the_class_names(
    server: Server, model_dir: Path
) -> None:
    x = pixels(5)
    code, out = server.call("POST", "/v2/models/nao/infer", v2_body(x))
    assert code == 200, out
    logits, names = out["outputs"]
    assert logits["name"] == "logits" and logits["datatype"] == "FP32"
    assert logits["shape"] == [5, 10]
    got = torch.tensor(logits["data"], dtype=torch.float32).view(5, 10)
    torch.testing.assert_close(got, package_logits(model_dir, x), rtol=0, atol=0)
    record = torch.load(model_dir / "model.pt", weights_only=True)
    assert names == {"name": "class_names", "shape": [10], "datatype": "BYTES",
                     "parameters": None, "data": record["class_names"]}  # fmt: skip
    assert record["class_names"] == [str(d) for d in range(10)]


def test_v1_predict_returns_the_same_logits(server: Server, model_dir: Path) -> None:
    x = pixels(3, seed=1)
    code, out = server.call("POST", "/v1/models/nao:predict", {"instances": x.tolist()})
    assert code == 200, out
    got = torch.tensor(out["predictions"], dtype=torch.float32)
    torch.testing.assert_close(got, package_logits(model_dir, x), rtol=0, atol=0)
    assert out["class_names"] == [str(d) for d in range(10)]


def test_the_server_runs_the_package_warmed_up_before_it_reports_ready(server: Server) -> None:
    """Its third line, after the model's summary (the first two)."""
    line = server.log.read_text().splitlines()[2]
    assert re.fullmatch(
        r"nao serve: model\.aoti\.pt2 on cpu \(threads: 1\); warm-up request \d+ ms", line
    ), line


def test_without_a_package_or_with_one_that_does_not_load_it_serves_the_program(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("kserve", reason="the serve extra (pip install -e '.[serve]')")
    from nao_kfp.serve import load_model

    threads = torch.get_num_threads()
    x = pixels(4, seed=3)
    try:
        for case, package in (("none", None), ("junk", b"not a package")):
            folder = tmp_path / case
            folder.mkdir()
            for name in ("model.pt", "model.pt2", "model.json"):
                shutil.copy(model_dir / name, folder / name)
            if package is not None:
                (folder / "model.aoti.pt2").write_bytes(package)
            model = load_model(folder, threads=1)
            assert model.runs == "model.pt2" and torch.get_num_threads() == 1
            got = torch.from_numpy(model.logits(x.numpy(), "inputs[0]"))
            torch.testing.assert_close(got, program_logits(model_dir, x), rtol=0, atol=0)
            lines = capsys.readouterr().out.splitlines()
            why = ["nao serve: model.aoti.pt2 cannot be read (RuntimeError); serving model.pt2"]
            assert lines[:-1] == (why if package else [])
            assert re.fullmatch(r"nao serve: model\.pt2 on cpu \(threads: 1\); warm-up "
                                r"request \d+ ms", lines[-1])  # fmt: skip
    finally:
        torch.set_num_threads(threads)


def test_an_export_without_a_compiler_writes_no_package_and_drops_an_old_one(
    checkpoint: Path, model_dir: Path, tmp_path: Path
) -> None:
    """A real run with $CXX naming no compiler (what AOTInductor compiles with): the export
    still writes model.pt2 and says in one line that there is no package; the earlier export's
    package in the folder is gone, so the server cannot run a stale model."""
    out = tmp_path / "model"
    shutil.copytree(model_dir, out)
    env = {k: v for k, v in os.environ.items() if k != "TORCH_INDUCTOR_INSTALL_GXX"}
    env["CXX"] = str(tmp_path / "no-such-c++")
    proc = subprocess.run(
        [sys.executable, "-m", "nao_kfp.cli", "export", "--checkpoint", str(checkpoint),
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stderr.splitlines()[-1] == (
        "export: no C++ compiler ($CXX, else g++): model.aoti.pt2 not written; "
        "nao serve runs model.pt2"
    )
    line = json.loads(proc.stdout)
    assert line["package"] is None and line["compile_seconds"] is None
    assert not (out / "model.aoti.pt2").exists() and (out / "model.pt2").is_file()


def test_health_and_metrics_come_from_kserve(server: Server) -> None:
    assert server.call("GET", "/v2/health/ready") == (200, {"ready": True})
    assert server.call("GET", "/v2/models/nao/ready") == (200, {"name": "nao", "ready": True})
    server.call("POST", "/v1/models/nao:predict", {"instances": pixels(1).tolist()})
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=30) as r:
        metrics = r.read().decode()
    (count,) = re.findall(
        r'^request_predict_seconds_count\{model_name="nao"\} (\S+)$', metrics, re.M
    )
    assert float(count) >= 1


BAD_V2: list[tuple[str, Any, str]] = [
    ("shape", v2_body(torch.rand(2, 1, 8, 7)),
     "inputs[0]: expected shape [N, 1, 8, 8] with 1 <= N <= 65536, got [2, 1, 8, 7]"),
    ("rank", v2_body(torch.rand(64)),
     "inputs[0]: expected shape [N, 1, 8, 8] with 1 <= N <= 65536, got [64]"),
    # numpy would infer the -1 and read booleans and strings as numbers
    ("inferred", v2_body(torch.rand(1, 1, 8, 8), shape=[-1, 1, 8, 8]),
     "inputs[0]: expected shape [N, 1, 8, 8] with 1 <= N <= 65536, got [-1, 1, 8, 8]"),
    ("booleans", v2_body(torch.rand(1, 1, 8, 8), data=[True] * 64),
     "inputs[0].data: expected numbers, got True"),
    ("strings", v2_body(torch.rand(1, 1, 8, 8), data=["0.5"] * 64),
     "inputs[0].data: expected numbers, got '0.5'"),
    ("content type", {**v2_body(torch.rand(1, 1, 8, 8)), "content-type": "text/plain"},
     "request body: expected JSON (content-type: application/json), got text/plain"),
    ("deep", b"[" * 100_000 + b"]" * 100_000,
     "request body: not JSON this server reads (malformed, nested too deep or a number too long)"),
    ("dtype", v2_body(torch.rand(1, 1, 8, 8), datatype="INT32"),
     "inputs[0].datatype: expected FP32, got INT32"),
    ("values", v2_body(torch.full((1, 1, 8, 8), 255.0)),
     "inputs[0]: expected pixel values in [0, 1], got 255..255"),
    ("count", v2_body(torch.rand(1, 1, 8, 8), shape=[2, 1, 8, 8]),
     "inputs[0].data: expected 128 numbers for shape [2, 1, 8, 8], got 64"),
    ("no inputs", {"inputs": []}, "inputs: expected one FP32 tensor of pixels"),
    ("not a request", {"pixels": [0.5]}, "inputs: Field required"),
    ("json", b'{"inputs": [', "request body: JSON decode error (Expecting value)"),
]  # fmt: skip
BAD_V1: list[tuple[str, Any, str]] = [
    ("shape", {"instances": torch.rand(2, 3, 8, 8).tolist()},
     "instances: expected shape [N, 1, 8, 8] with 1 <= N <= 65536, got [2, 3, 8, 8]"),
    ("booleans", {"instances": [[[True] * 8] * 8]}, "instances: expected numbers, got True"),
    ("ragged", {"instances": [[[0.5]], [[0.5, 0.5]]]},
     "instances: expected numbers in equal-sized C×H×W nested lists"),
    ("text", {"instances": [[["a"] * 8] * 8]}, "instances: expected numbers, got 'a'"),
    ("values", {"instances": (-torch.rand(1, 1, 8, 8) - 1).tolist()},
     "instances: expected pixel values in [0, 1]"),
    ("missing", {"inputs": []},
     'instances: expected {"instances": [...]} with one C×H×W list of pixels each'),
    ("json", b"{instances", "Unrecognized request format"),
    ("form", {"instances": [[[0.5]]], "content-type": "application/x-www-form-urlencoded"},
     "request body: expected JSON (content-type: application/json)"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "body", "message"), BAD_V2, ids=[c[0] for c in BAD_V2])
def test_a_bad_v2_payload_is_a_400_with_one_line(
    server: Server, what: str, body: Any, message: str
) -> None:
    code, out = server.call("POST", "/v2/models/nao/infer", body)
    assert code == 400, out
    assert out == {"error": message}


@pytest.mark.parametrize(("what", "body", "message"), BAD_V1, ids=[c[0] for c in BAD_V1])
def test_a_bad_v1_payload_is_a_400_with_one_line(
    server: Server, what: str, body: Any, message: str
) -> None:
    code, out = server.call("POST", "/v1/models/nao:predict", body)
    assert code == 400, out
    assert set(out) == {"error"} and out["error"].startswith(message)
    assert "\n" not in out["error"]


def test_every_error_is_one_line_in_one_shape(server: Server) -> None:
    """A wrong method is a 405 (GET on v1's predict path is no model called "nao:predict"),
    an unknown path a 404: {"error": ...} as every 400 is, never FastAPI's {"detail": ...}."""
    for method, path, code, message in [
        ("GET", "/v1/models/nao:predict", 405,
         "GET /v1/models/nao:predict: method not allowed; expected POST"),
        ("GET", "/v2/models/nao/infer", 405,
         "GET /v2/models/nao/infer: method not allowed; expected POST"),
        ("DELETE", "/v2/models/nao/infer", 405,
         "DELETE /v2/models/nao/infer: method not allowed; expected POST"),
        ("GET", "/nothing", 404, "/nothing: no such endpoint"),
    ]:  # fmt: skip
        assert server.call(method, path) == (code, {"error": message})


def test_the_server_listens_on_the_host_it_is_given(server: Server) -> None:
    assert f"Uvicorn running on http://127.0.0.1:{server.port}" in server.log.read_text()


def test_the_server_still_answers_after_bad_payloads_then_stops_on_sigterm(
    server: Server, model_dir: Path
) -> None:
    for _what, body, _message in BAD_V2 + BAD_V1:
        server.call("POST", "/v2/models/nao/infer", body)
    x = pixels(1, seed=2)
    code, out = server.call("POST", "/v2/models/nao/infer", v2_body(x))
    assert code == 200
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=60) == 0, server.log.read_text()
    with pytest.raises(urllib.error.URLError):
        server.call("GET", "/v2/health/ready")


def test_search_ends_with_the_commands_that_serve_the_best_child(tmp_path: Path) -> None:
    """Without a final training, `nao search` ends with the commands that export the best
    child's checkpoint from the run's store and serve it (or train it at full size first); with
    one, the command that serves the final model; evaluators that train nothing get none."""
    from nao_kfp.pipelines.local import local_config

    from nao_kfp.commands.search import next_lines
    from nao_kfp.evaluators.train import child_digest
    from nao_kfp.records import Best, SearchResult
    from nao_kfp.results import FinalOutcome
    from nao_kfp.store import checkpoint_key

    cfg = local_config(load_config("demo"), tmp_path)
    best = Best(arch="...", id="0123abcd", dev_accuracy=0.5)
    result = SearchResult("demo", "enas", "train", evaluated=1, failed=0, best=best)
    assert next_lines(cfg, tmp_path, result, None) == []  # no checkpoint in the store
    ckpt = tmp_path / "store" / checkpoint_key("enas", "0123abcd", child_digest(cfg))
    ckpt.parent.mkdir(parents=True)
    ckpt.write_bytes(b"")
    model = tmp_path / "model"
    lines = "\n".join(next_lines(cfg, tmp_path, result, None)).splitlines()
    assert lines[0] == "next:"
    assert f"    nao export --checkpoint {ckpt} --out {model}" in lines
    assert f"    nao serve {model}" in lines
    assert (
        f"    nao search --config {tmp_path / 'config.json'} --set final.enabled=true "
        f"--out {tmp_path}"
    ) in lines
    final = FinalOutcome(
        arch="...", arch_id="0123abcd", test_accuracy=None, dev_accuracy=None, params=None,
        macs=None, epochs=None, seconds=None, rerank=[], model_dir=".", model="model.pt",
        program="model.pt2", package=None, compile_seconds=None, load="", storage_uri="",
        inference_service="inference-service.yaml",
    ).resolved(tmp_path / "final" / "model")  # fmt: skip
    assert f"    nao serve {tmp_path / 'final' / 'model'}" in "\n".join(
        next_lines(cfg, tmp_path, result, final)
    )
    synthetic = local_config(load_config("demo", ["evaluator.kind=synthetic"]), tmp_path)
    assert next_lines(synthetic, tmp_path, result, None) == []


def test_the_final_model_is_published_to_s3_with_an_s3_uri(
    s3_env: list[str], tmp_path: Path
) -> None:
    """With cluster.s3_endpoint the model's files go to the bucket and the InferenceService's
    STORAGE_URI is s3://<bucket>/<key> (what KServe's storage initializer downloads)."""
    import yaml

    from nao_kfp.final import publish_model
    from nao_kfp.store import open_store

    cfg = load_config("demo", [*s3_env, "cluster.gpu_count=0"])
    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.pt", "model.pt2", "model.json"):
        (model / name).write_bytes(name.encode())
    store = open_store(cfg.cluster, tmp_path / "unused")
    uri, isvc_path = publish_model(cfg, store, model, "models/enas/final-x/0123abcd")
    assert uri == f"s3://{cfg.cluster.s3_bucket}/models/enas/final-x/0123abcd"
    for name in ("model.pt", "model.pt2", "model.json"):
        assert store.get_bytes(f"models/enas/final-x/0123abcd/{name}") == name.encode()
    isvc = yaml.safe_load(isvc_path.read_text())
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert container["env"] == [{"name": "STORAGE_URI", "value": uri}]
    assert "limits" not in container["resources"]  # gpu_count 0: no GPU asked for


@pytest.mark.parametrize(("request_", "threads"), [("4", "4"), ("500m", "1"), ("2.5", "3")])
def test_the_inference_service_gives_nao_serve_a_thread_per_requested_cpu(
    request_: str, threads: str
) -> None:
    from nao_kfp.serve import inference_service

    cluster = load_config(None, [f"cluster.cpu_request={request_}"]).cluster
    (container,) = inference_service("/m", cluster)["spec"]["predictor"]["containers"]
    assert container["command"][-2:] == ["--threads", threads]
    assert container["resources"]["requests"]["cpu"] == request_


def test_without_kserve_nao_serve_says_which_extra_to_install(model_dir: Path) -> None:
    code = (
        "import sys; sys.modules['kserve'] = None; from nao_kfp.cli import main; "
        f"sys.exit(main(['serve', {str(model_dir)!r}]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "nao: error: kserve is not installed: serving needs the serve extra "
        "(pip install 'nao-kfp[serve]')\n"
    )
