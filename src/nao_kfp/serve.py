"""The exported model behind KServe: a custom predictor (kserve.Model) and its InferenceService.

`NaoModel` loads model.aoti.pt2 (the program compiled ahead of time by AOTInductor, when the
export wrote one and this CPU runs it), else model.pt2 (the torch.export program: N×C×H×W pixels
in [0, 1] in, logits out, the normalization inside; on a GPU when there is one), and from
model.pt the input shape and the class names. It sets torch's thread counts (--threads) and
answers one warm-up request before it reports ready, so the first user's request does not wait
for a cold model. KServe's ModelServer does the rest: the open inference protocol v2 (`GET
/v2/models/<name>`, `POST /v2/models/<name>/infer`), v1 (`POST /v1/models/<name>:predict`),
health (`/v2/health/ready`) and Prometheus metrics (`/metrics`). A payload this model cannot
take (wrong shape, datatype or values, no inputs) raises kserve's InvalidInput, which the server
answers with HTTP 400 and `{"error": "<one line>"}`.

    v2 in:  inputs[0]: FP32, shape [N, C, H, W], values in [0, 1]
    v2 out: outputs[0] "logits" FP32 [N, classes]; outputs[1] "class_names" BYTES [classes]
    v1 in:  {"instances": [C×H×W nested lists, ...]}
    v1 out: {"predictions": [[logit, ...], ...], "class_names": [...]}

`inference_service` is the KServe InferenceService that runs this predictor in our image, with
the model's store URI as STORAGE_URI (KServe's storage initializer copies it to /mnt/models).
kserve is imported only by the functions that serve (the `serve` extra).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nao_kfp.config import ACCELERATOR_LABEL, ClusterConfig, cpu_cores
from nao_kfp.errors import NaoError, shorten
from nao_kfp.jsontypes import JSONObject
from nao_kfp.units import pct, si

if TYPE_CHECKING:
    import torch

    from nao_kfp.export import ModelRecord

DEFAULT_NAME = "nao"
HTTP_PORT = 8080  # KServe's container port
HOST = "0.0.0.0"  # every interface: what a KServe container needs (127.0.0.1 on a laptop)
MAX_BATCH = 1 << 16  # the exported program's batch dimension (export.export_program)
MOUNT = "/mnt/models"  # where KServe's storage initializer puts STORAGE_URI
SERVICE_ACCOUNT = "nao-serving"  # manifests/overlays/serving: S3 credentials for the initializer
INFERENCE_SERVICE_FILE = "inference-service.yaml"
LOGITS, CLASS_NAMES = "logits", "class_names"


class ServeError(NaoError):
    """A model folder that cannot be served, or the serve extra is missing."""


def read_model_dir(model_dir: Path) -> ModelRecord:
    """The exported model.pt's record, checked as export reads it; one-line errors."""
    from nao_kfp.export import MODEL_FILE, PROGRAM_FILE, read_model_file  # torch: when serving

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ServeError(f"MODEL_DIR {model_dir}: no such folder (expected `nao export --out`)")
    for name in (MODEL_FILE, PROGRAM_FILE):
        if not (model_dir / name).is_file():
            raise ServeError(f"MODEL_DIR {model_dir}: no {name} (expected `nao export --out`)")
    return read_model_file(model_dir / MODEL_FILE, f"MODEL_DIR {model_dir}: {MODEL_FILE}")


def model_summary(model_dir: Path, name: str = DEFAULT_NAME, port: int = HTTP_PORT) -> str:
    """What `nao serve` says when it starts: the model's architecture and the metrics its
    training measured (model.json, as `nao export` wrote it), and where to send requests."""

    from nao_kfp.export import INFO_FILE

    def obj(value: object) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    try:
        info = obj(json.loads((Path(model_dir) / INFO_FILE).read_text()))
    except (OSError, ValueError):
        info = {}
    metrics, inp = obj(info.get("metrics")), obj(info.get("input"))
    said = [
        f"{what} {pct(metrics[key])}"
        for key, what in (("dev_accuracy", "dev accuracy"), ("test_accuracy", "test accuracy"))
        if isinstance(metrics.get(key), (int, float))
    ] + [
        f"{si(metrics[key])} {what}"
        for key, what in (("params", "params"), ("macs", "multiply-adds"))
        if isinstance(metrics.get(key), (int, float))
    ]
    what = f"{info['space']} cell {info.get('arch_id')}" if info else f"the model in {model_dir}"
    if info.get("dataset"):
        what += f" trained on {info['dataset']}"
    c, h, w = inp.get("channels", "C"), inp.get("size", "H"), inp.get("size", "W")
    return (
        f"nao serve: {what}: {', '.join(said) if said else f'no metrics recorded ({INFO_FILE})'}\n"
        f"nao serve: POST http://localhost:{port}/v2/models/{name}/infer with inputs[0] named "
        f"pixels, FP32 [N, {c}, {h}, {w}], values in [0, 1]"
    )


def load_program(model_dir: Path) -> torch.nn.Module:
    """model.pt2 as a callable module; one-line error when it is not a torch.export program."""

    import torch

    from nao_kfp.export import PROGRAM_FILE

    # torch.export.load logs a traceback for an unreadable archive before it raises its own error
    quiet = logging.getLogger("torch.export")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return torch.export.load(str(Path(model_dir) / PROGRAM_FILE)).module()
    except Exception as e:  # zip, pickle and version errors alike
        raise ServeError(
            f"MODEL_DIR {model_dir}: {PROGRAM_FILE} is not a torch.export program "
            f"({type(e).__name__})"
        ) from None
    finally:
        quiet.setLevel(level)


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Only errors from these loggers while the block runs."""
    quiet = [logging.getLogger(name) for name in loggers]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)


def load_package(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """model.aoti.pt2 as a callable; ServeError when this machine cannot run it (another kind
    of CPU, instructions this CPU lacks, a GPU package) or it does not load."""
    import torch
    from torch._inductor import cpu_vec_isa

    try:
        loader: Any = torch._C._aoti.AOTIModelPackageLoader  # what torch's own loader asks
        meta = loader.load_metadata_from_package(str(path), "model")
    except Exception as e:  # zip and format errors alike
        raise ServeError(f"cannot be read ({type(e).__name__})") from None
    device, machine = meta.get("AOTI_DEVICE_KEY", ""), meta.get("AOTI_MACHINE", "")
    isa = meta.get("AOTI_CPU_ISA", "")
    # torch warns where a CUDA folder is installed without a GPU (a CPU package needs no CUDA),
    # and when the package's instruction set is not this CPU's best one (export compiles for
    # AVX2 on purpose, and the check below is the one that matters)
    with _quiet("torch.utils.cpp_extension", "torch.export.pt2_archive._package"):
        runs_here = {str(i).upper() for i in cpu_vec_isa.valid_vec_isa_list()}
        if device != "cpu":
            raise ServeError(f"was compiled for {device or 'another device'}, not a CPU")
        if machine != platform.machine():
            raise ServeError(f"was compiled for {machine} CPUs, this one is {platform.machine()}")
        if isa and isa not in runs_here | {"INVALID_VEC_ISA"}:
            raise ServeError(f"needs {isa} instructions, which this CPU lacks")
        try:
            return cast(
                "Callable[[torch.Tensor], torch.Tensor]",
                torch._inductor.aoti_load_package(str(path)),
            )
        except Exception as e:  # a missing library, a torch of another version alike
            raise ServeError(f"cannot be loaded ({type(e).__name__})") from None


def load_runner(
    model_dir: Path, device: torch.device, log: Callable[[str], None]
) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """What predict() calls, and its file: model.aoti.pt2 on a CPU that runs it, else (one line
    in the log saying why) model.pt2 on `device`."""
    from nao_kfp.export import PACKAGE_FILE, PROGRAM_FILE

    package = Path(model_dir) / PACKAGE_FILE
    if package.is_file() and device.type != "cpu":
        log(f"nao serve: {PACKAGE_FILE} runs on a CPU; serving {PROGRAM_FILE} on {device.type}")
    elif package.is_file():
        try:
            return load_package(package), PACKAGE_FILE
        except ServeError as e:
            log(f"nao serve: {PACKAGE_FILE} {e}; serving {PROGRAM_FILE}")
    return load_program(model_dir).to(device), PROGRAM_FILE


def default_threads() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(threads: int) -> None:
    """torch's intra-op threads (what one request's kernels use) and, while it can still be
    set, a single inter-op thread (requests are answered one at a time)."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already ran in this process
        pass


def model_class() -> type:
    """NaoModel, defined on first use so that kserve is needed only to serve."""
    try:
        import kserve
        from kserve.errors import InvalidInput
        from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
    except ImportError:
        raise ServeError(
            "kserve is not installed: serving needs the serve extra (pip install 'nao-kfp[serve]')"
        ) from None
    import numpy as np
    import torch

    class NaoModel(kserve.Model):  # type: ignore[misc]
        """The exported model as a KServe custom predictor: load() once (and a warm-up
        request), predict() per request."""

        def __init__(
            self,
            name: str,
            model_dir: Path,
            threads: int | None = None,
            log: Callable[[str], None] | None = None,
        ):
            super().__init__(name)
            self.model_dir = Path(model_dir)
            self.threads = threads or default_threads()
            self.log = log or _say  # what load() says: the file it runs and the warm-up
            self.program: Any = None
            self.runs = ""  # the file predict() runs: model.aoti.pt2 or model.pt2
            self.device = torch.device("cpu")
            self.class_names: list[str] = []
            self.shape: tuple[int, int, int] = (0, 0, 0)

        def load(self) -> bool:
            record = read_model_dir(self.model_dir)
            inp = record["input"]
            self.shape = (int(inp["channels"]), int(inp["size"]), int(inp["size"]))
            self.class_names = [str(c) for c in record["class_names"]]
            set_threads(self.threads)
            # the InferenceService asks for cluster.gpu_count GPUs: use one when there is one
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
            self.program, self.runs = load_runner(self.model_dir, self.device, self.log)
            start = time.perf_counter()  # a cold model answers its first request slowly
            self.logits(np.zeros((1, *self.shape), dtype=np.float32), "warm-up")
            warm_ms = (time.perf_counter() - start) * 1000
            self.log(
                f"nao serve: {self.runs} on {self.device.type} (threads: {self.threads}); "
                f"warm-up request {warm_ms:.0f} ms"
            )
            self.ready = True
            return self.ready

        def get_input_types(self) -> list[JSONObject]:
            return [{"name": "pixels", "datatype": "FP32", "shape": [-1, *self.shape]}]

        def get_output_types(self) -> list[JSONObject]:
            k = len(self.class_names)
            return [
                {"name": LOGITS, "datatype": "FP32", "shape": [-1, k]},
                {"name": CLASS_NAMES, "datatype": "BYTES", "shape": [k]},
            ]

        def logits(self, x: np.ndarray, field: str) -> np.ndarray:
            """field: what the error names (inputs[0] for v2, instances for v1)."""
            c, h, w = self.shape
            if x.ndim != 4 or tuple(x.shape[1:]) != self.shape or not 1 <= x.shape[0] <= MAX_BATCH:
                raise InvalidInput(
                    f"{field}: expected shape [N, {c}, {h}, {w}] with 1 <= N <= {MAX_BATCH}, "
                    f"got {list(x.shape)}"
                )
            if not np.isfinite(x).all() or x.min() < 0.0 or x.max() > 1.0:
                raise InvalidInput(
                    f"{field}: expected pixel values in [0, 1], got {x.min():g}..{x.max():g}"
                )
            pixels = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            with torch.no_grad():
                out = self.program(pixels.to(self.device))
            return out.float().cpu().numpy()

        def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
            if isinstance(payload, InferRequest):
                return self._predict_v2(payload)
            return self._predict_v1(payload)

        def _predict_v2(self, request: Any) -> Any:
            if not request.inputs:
                raise InvalidInput("inputs: expected one FP32 tensor of pixels")
            tensor = request.inputs[0]
            if tensor.datatype != "FP32":
                raise InvalidInput(
                    f"inputs[0].datatype: expected FP32, got {shorten(str(tensor.datatype), 40)}"
                )
            shape = list(tensor.shape)
            c, h, w = self.shape
            if (
                len(shape) != 4
                or not all(type(s) is int for s in shape)
                or shape[1:] != [c, h, w]
                or not 1 <= shape[0] <= MAX_BATCH
            ):  # no -1 (numpy would infer it) and no batch past what the program takes
                raise InvalidInput(
                    f"inputs[0]: expected shape [N, {c}, {h}, {w}] with 1 <= N <= {MAX_BATCH}, "
                    f"got {shorten(str(shape), 60)}"
                )
            count = numbers(tensor.data, "inputs[0].data")
            if count != math.prod(shape):
                raise InvalidInput(
                    f"inputs[0].data: expected {math.prod(shape)} numbers for shape {shape}, "
                    f"got {count}"
                )
            x = np.asarray(tensor.data, dtype=np.float32).reshape(shape)
            logits = self.logits(x, "inputs[0]")
            out = InferOutput(name=LOGITS, shape=list(logits.shape), datatype="FP32")
            out.set_data_from_numpy(logits, binary_data=False)
            names = InferOutput(
                name=CLASS_NAMES, shape=[len(self.class_names)], datatype="BYTES",
                data=list(self.class_names),
            )  # fmt: skip
            return InferResponse(
                response_id=request.id or "", model_name=self.name, infer_outputs=[out, names]
            )

        def _predict_v1(self, payload: Any) -> dict[str, Any]:
            if isinstance(payload, (bytes, str)):  # kserve passes non-JSON content types on
                raise InvalidInput("request body: expected JSON (content-type: application/json)")
            instances = payload.get("instances") if isinstance(payload, dict) else None
            if not isinstance(instances, list) or not instances:
                raise InvalidInput(
                    'instances: expected {"instances": [...]} with one C×H×W list of pixels each'
                )
            numbers(instances, "instances")
            try:
                x = np.asarray(instances, dtype=np.float32)
            except (ValueError, TypeError):
                raise InvalidInput(
                    "instances: expected numbers in equal-sized C×H×W nested lists"
                ) from None
            logits = self.logits(x, "instances")
            return {"predictions": logits.tolist(), CLASS_NAMES: list(self.class_names)}

    def numbers(data: object, field: str) -> int:
        """How many numbers data holds in its nested lists; a bool, a string or anything else
        where a pixel value belongs is an error (numpy would read True and "0.5" as numbers)."""
        count, stack = 0, [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, int | float) and not isinstance(node, bool):
                count += 1
            else:
                raise InvalidInput(f"{field}: expected numbers, got {shorten(repr(node), 40)}")
        return count

    return NaoModel


def load_model(
    model_dir: Path,
    name: str = DEFAULT_NAME,
    *,
    threads: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Any:
    """A loaded NaoModel (ready to predict, warmed up). threads: torch's intra-op threads
    (default: the CPUs this process may run on); log: where its lines go (default stdout)."""
    model = model_class()(name, Path(model_dir), threads, log)
    model.load()
    return model


def _say(line: str) -> None:
    print(line, flush=True)


def serve(model: object, *, port: int = HTTP_PORT, host: str = HOST) -> None:
    """Run KServe's ModelServer (REST only) with a loaded NaoModel on host:port until SIGINT or
    SIGTERM. Every error answers `{"error": "<one line>"}`, kserve's and FastAPI's alike."""
    import kserve
    import kserve.model_server
    from fastapi.exceptions import RequestValidationError
    from kserve.model_server import app
    from starlette.exceptions import HTTPException

    # FastAPI answers a v2 body that is not JSON, or not an inference request, with 422 and a
    # list of pydantic errors; a bad payload is a 400 with one line, as kserve's own errors are
    app.add_exception_handler(RequestValidationError, _bad_request)
    # 404, 405 and a body FastAPI cannot parse: {"detail": ...} by default
    app.add_exception_handler(HTTPException, _http_error)
    # kserve's routes would read GET /v1/models/<name>:predict as the metadata of a model
    # named "<name>:predict" (a 404); every other method on a predict or infer path is a 405
    for path in ("/v1/models/{name}:predict", "/v2/models/{name}/infer"):
        app.add_api_route(path, _not_allowed, methods=["GET", "PUT", "PATCH", "DELETE"])
    app.middleware("http")(_json_only)
    # kserve 0.21's RESTServer binds 0.0.0.0 whatever it is asked; `--host` decides here
    rest_server = kserve.model_server.RESTServer

    class HostRESTServer(rest_server):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.config.host = host

    kserve.model_server.RESTServer = HostRESTServer
    # kserve 0.21's own routes use it; nothing for a user of `nao serve` to act on
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    kserve.ModelServer(http_port=port, enable_grpc=False).start([model])


async def _bad_request(_request: Any, exc: Any) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=400, content={"error": validation_message(exc.errors())})


async def _http_error(request: Any, exc: Any) -> Any:
    from fastapi.responses import JSONResponse

    path = shorten(str(request.url.path), 120)
    if exc.status_code == 404:
        message = f"{path}: no such endpoint"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "POST")
        message = f"{request.method} {path}: method not allowed; expected {allowed}"
    elif exc.detail == "There was an error parsing the body":  # FastAPI's, for any JSON error
        message = "request body: not JSON this server reads (malformed, nested too deep or a number too long)"
    else:
        message = shorten(str(exc.detail).replace("\n", " "))
    return JSONResponse(
        status_code=exc.status_code, content={"error": message}, headers=exc.headers
    )


async def _not_allowed(name: str) -> None:
    from starlette.exceptions import HTTPException

    raise HTTPException(405, headers={"Allow": "POST"})


async def _json_only(request: Any, call_next: Any) -> Any:
    """A v2 infer request is JSON, or binary tensors with their JSON header's length (kserve
    otherwise answers a wrong content type with a message about that binary header)."""
    from fastapi.responses import JSONResponse

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if (
        request.method == "POST"
        and request.url.path.startswith("/v2/models/")
        and request.url.path.endswith("/infer")
        and kind != "application/json"
        and "inference-header-content-length" not in request.headers
    ):
        return JSONResponse(
            status_code=400,
            content={
                "error": f"request body: expected JSON (content-type: application/json), got "
                f"{shorten(kind or 'no content type', 60)}"
            },
        )
    return await call_next(request)


def validation_message(errors: list[dict[str, Any]]) -> str:
    """pydantic's first error as one line: `inputs: Field required`, `request body: JSON decode
    error (...)`; the names of the body's union variants (InferenceRequest, bytes) left out."""
    if not errors:
        return "request body: not an inference request"
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "InferenceRequest", "bytes")]
    where = ".".join(p for p in loc if not p.isdigit()) or "request body"
    detail = (first.get("ctx") or {}).get("error")
    return f"{where}: {first.get('msg', 'invalid')}" + (f" ({detail})" if detail else "")


# ------------------------------------------------------------------------- the InferenceService


def inference_service(
    storage_uri: str, cluster: ClusterConfig, *, name: str = DEFAULT_NAME
) -> dict[str, Any]:
    """A KServe v1beta1 InferenceService with this predictor in our image: the model at
    storage_uri copied to /mnt/models by KServe's storage initializer (credentials from the
    service account `nao-serving`, manifests/overlays/serving), CPU and memory requests and the
    GPU count from the cluster section."""
    resources: dict[str, Any] = {
        "requests": {"cpu": cluster.cpu_request, "memory": cluster.memory_request},
    }
    if cluster.gpu_count > 0:
        resources["limits"] = {cluster.gpu_resource: cluster.gpu_count}
    # as many torch threads as the pod asks CPUs for (the node may have many more)
    threads = str(max(1, math.ceil(cpu_cores(cluster.cpu_request))))
    container = {
        "name": "kserve-container",
        "image": cluster.image,
        "command": ["nao", "serve", MOUNT, "--port", str(HTTP_PORT), "--name", name]
        + ["--threads", threads],
        "env": [{"name": "STORAGE_URI", "value": storage_uri}],
        "ports": [{"containerPort": HTTP_PORT, "protocol": "TCP"}],
        "resources": resources,
    }
    predictor: dict[str, Any] = {"serviceAccountName": SERVICE_ACCOUNT, "containers": [container]}
    # placed as pipelines/search.py's place_on_gpu places the training pods
    tolerations, selector = list(cluster.tolerations), dict(cluster.node_selector)
    if cluster.gpu_count > 0:
        tolerations.insert(
            0, {"key": cluster.gpu_resource, "operator": "Exists", "effect": "NoSchedule"}
        )
        if cluster.accelerator_type:
            selector[ACCELERATOR_LABEL] = cluster.accelerator_type
    if tolerations:
        predictor["tolerations"] = tolerations
    if selector:
        predictor["nodeSelector"] = dict(sorted(selector.items()))
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": predictor},
    }
