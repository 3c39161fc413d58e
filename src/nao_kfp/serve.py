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

import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nao_kfp.config import ACCELERATOR_LABEL, ClusterConfig, cpu_cores
from nao_kfp.errors import NaoError
from nao_kfp.jsontypes import JSONObject

if TYPE_CHECKING:
    import torch

    from nao_kfp.export import ModelRecord

DEFAULT_NAME = "nao"
HTTP_PORT = 8080  # KServe's container port
MOUNT = "/mnt/models"  # where KServe's storage initializer puts STORAGE_URI
SERVICE_ACCOUNT = "nao-serving"  # manifests/overlays/serving: S3 credentials for the initializer
INFERENCE_SERVICE_FILE = "inference-service.yaml"
LOGITS, CLASS_NAMES = "logits", "class_names"


class ServeError(NaoError):
    """A model folder that cannot be served, or the serve extra is missing."""


def read_model_dir(model_dir: Path) -> ModelRecord:
    """The exported model.pt's record (what the server needs of it), checked; one-line errors."""
    import torch

    from nao_kfp.export import FORMAT, MODEL_FILE, PROGRAM_FILE  # torch: only when serving

    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ServeError(f"MODEL_DIR {model_dir}: no such folder (expected `nao export --out`)")
    for name in (MODEL_FILE, PROGRAM_FILE):
        if not (model_dir / name).is_file():
            raise ServeError(f"MODEL_DIR {model_dir}: no {name} (expected `nao export --out`)")
    try:
        record = torch.load(model_dir / MODEL_FILE, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and unpickling-policy errors alike
        raise ServeError(
            f"MODEL_DIR {model_dir}: {MODEL_FILE} is not a torch file ({type(e).__name__})"
        ) from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ServeError(f"MODEL_DIR {model_dir}: {MODEL_FILE} is not an exported {FORMAT} file")
    if not {"input", "class_names"} <= set(record):
        raise ServeError(
            f"MODEL_DIR {model_dir}: {MODEL_FILE} records no input shape or class names "
            "(expected `nao export`'s; export the checkpoint again)"
        )
    return cast("ModelRecord", record)


def load_program(model_dir: Path) -> torch.nn.Module:
    """model.pt2 as a callable module; one-line error when it is not a torch.export program."""
    import logging

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


def load_package(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """model.aoti.pt2 as a callable; ServeError when this machine cannot run it (another kind
    of CPU, instructions this CPU lacks, a GPU package) or it does not load."""
    import logging
    import platform

    import torch
    from torch._inductor import cpu_vec_isa

    try:
        loader: Any = torch._C._aoti.AOTIModelPackageLoader  # what torch's own loader asks
        meta = loader.load_metadata_from_package(str(path), "model")
    except Exception as e:  # zip and format errors alike
        raise ServeError(f"cannot be read ({type(e).__name__})") from None
    device, machine = meta.get("AOTI_DEVICE_KEY", ""), meta.get("AOTI_MACHINE", "")
    isa = meta.get("AOTI_CPU_ISA", "")
    runs_here = {str(i).upper() for i in cpu_vec_isa.valid_vec_isa_list()} | {"INVALID_VEC_ISA"}
    if device != "cpu":
        raise ServeError(f"was compiled for {device or 'another device'}, not a CPU")
    if machine != platform.machine():
        raise ServeError(f"was compiled for {machine} CPUs, this one is {platform.machine()}")
    if isa and isa not in runs_here:
        raise ServeError(f"needs {isa} instructions, which this CPU lacks")
    # torch warns when the package's instruction set is not this CPU's best one: export
    # compiles for AVX2 on purpose, and the check above is the one that matters
    quiet = logging.getLogger("torch.export.pt2_archive._package")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return cast(
            "Callable[[torch.Tensor], torch.Tensor]", torch._inductor.aoti_load_package(str(path))
        )
    except Exception as e:  # a missing library, a torch of another version alike
        raise ServeError(f"cannot be loaded ({type(e).__name__})") from None
    finally:
        quiet.setLevel(level)


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

        def __init__(self, name: str, model_dir: Path, threads: int | None = None):
            super().__init__(name)
            self.model_dir = Path(model_dir)
            self.threads = threads or default_threads()
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
            self.program, self.runs = load_runner(self.model_dir, self.device, _say)
            start = time.perf_counter()  # a cold model answers its first request slowly
            self.logits(np.zeros((1, *self.shape), dtype=np.float32), "warm-up")
            warm_ms = (time.perf_counter() - start) * 1000
            _say(
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
            if x.ndim != 4 or tuple(x.shape[1:]) != self.shape or x.shape[0] < 1:
                raise InvalidInput(
                    f"{field}: expected shape [N, {c}, {h}, {w}] with N >= 1, got {list(x.shape)}"
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
                raise InvalidInput(f"inputs[0].datatype: expected FP32, got {tensor.datatype}")
            shape = [int(s) for s in tensor.shape]
            try:
                x = tensor.as_numpy()
            except (ValueError, TypeError):
                raise InvalidInput(
                    f"inputs[0].data: expected {math.prod(shape)} numbers for shape {shape}"
                ) from None
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
            try:
                x = np.asarray(instances, dtype=np.float32)
            except (ValueError, TypeError):
                raise InvalidInput(
                    "instances: expected numbers in equal-sized C×H×W nested lists"
                ) from None
            logits = self.logits(x, "instances")
            return {"predictions": logits.tolist(), CLASS_NAMES: list(self.class_names)}

    return NaoModel


def load_model(model_dir: Path, name: str = DEFAULT_NAME, *, threads: int | None = None) -> Any:
    """A loaded NaoModel (ready to predict, warmed up). threads: torch's intra-op threads
    (default: the CPUs this process may run on)."""
    model = model_class()(name, Path(model_dir), threads)
    model.load()
    return model


def _say(line: str) -> None:
    print(line, flush=True)


def serve(model: object, *, port: int = HTTP_PORT) -> None:
    """Run KServe's ModelServer (REST only) with a loaded NaoModel until SIGINT or SIGTERM."""
    import kserve
    from fastapi.exceptions import RequestValidationError
    from kserve.model_server import app

    # FastAPI answers a v2 body that is not JSON, or not an inference request, with 422 and a
    # list of pydantic errors; a bad payload is a 400 with one line, as kserve's own errors are
    app.add_exception_handler(RequestValidationError, _bad_request)
    # kserve 0.21's own routes use it; nothing for a user of `nao serve` to act on
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    kserve.ModelServer(http_port=port, enable_grpc=False).start([model])


async def _bad_request(_request: Any, exc: Any) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse(status_code=400, content={"error": validation_message(exc.errors())})


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
