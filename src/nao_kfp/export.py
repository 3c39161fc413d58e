"""A trained child (or final) network as a model that stands alone.

`export_model(checkpoint, out_dir)` turns a checkpoint that train_child wrote (a file, or one in
the store: a local store's path or s3://BUCKET/KEY, checked against its checksum) into:

  model.pt    a self-describing checkpoint: the architecture (space, JSON, string, id), the
              network's constructor arguments (NetSpec), the weights (auxiliary head dropped:
              it only trains), the data normalization, the classes and the metrics when a
              result.json lies beside the checkpoint. `torch.load(path, weights_only=True)`
              reads it; `load_classifier` rebuilds the network from it alone (with nao_kfp).
  model.pt2   the same classifier as a torch.export program, which needs nothing but torch:
              torch.export.load("model.pt2").module()(x) with x of N×C×H×W pixels in [0, 1]
              (uint8 images / 255) returns N×classes logits; the normalization is inside.
  model.aoti.pt2
              (aot_compile=True, where a C++ compiler is found) the same program compiled ahead of
              time by AOTInductor: `nao serve` runs it instead of model.pt2, several times
              faster (benchmarks/bench_serve.py). On x86-64 it targets AVX2 (x86-64-v3), so that
              it runs on other CPUs than the one that compiled it; its thread count is the
              server's, not the compiling machine's. The compile takes about 40 CPU-seconds for
              the demo's model; a compile that fails costs nothing but the package.
  model.json  what model.pt describes, readable (no weights).

Checkpoints written before the normalization was recorded in them need the child section they
were trained with (`child_cfg`), from which the normalization is computed again.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn
from typing_extensions import TypedDict  # pydantic checks these on Python < 3.12 too

from nao_kfp import validate
from nao_kfp.child import data as image_data
from nao_kfp.child import runtime
from nao_kfp.child.cnn import NetSpec
from nao_kfp.child.params import build_network, meta_network
from nao_kfp.child.runtime import CHECKPOINT
from nao_kfp.config import ChildConfig, ClusterConfig
from nao_kfp.config.keys import check_keys
from nao_kfp.errors import ArchError, ConfigError, NaoError, shorten
from nao_kfp.jsontypes import JSONValue
from nao_kfp.preflight import created_dir
from nao_kfp.spaces import Arch, CellArch, Nb201Arch, SearchSpace, get_space
from nao_kfp.store import CorruptObject, LocalStore, StoreError, open_store
from nao_kfp.store.base import result_key_of

FORMAT, VERSION = "nao-kfp-model", 1
MODEL_FILE, PROGRAM_FILE, INFO_FILE = "model.pt", "model.pt2", "model.json"
PACKAGE_FILE = "model.aoti.pt2"  # AOTInductor's package of model.pt2 (aot_compile=True)
S3_SCHEME = "s3://"
METRIC_KEYS = ("dev_accuracy", "best_dev_accuracy", "test_accuracy", "params", "macs", "epochs")


class ModelInput(TypedDict):
    channels: int
    size: int
    range: list[float]


class ModelInfo(TypedDict):
    """model.json (and model.pt without its weights): the architecture, the network's
    constructor arguments, the normalization, the classes and the metrics."""

    format: str
    version: int
    space: str
    arch: JSONValue
    arch_string: str
    arch_id: str
    spec: dict[str, Any]  # NetSpec's constructor arguments (dataclasses.asdict)
    normalize: dict[str, list[float]]
    classes: int
    class_names: list[str]
    input: ModelInput
    dataset: str
    epochs_trained: int
    metrics: dict[str, object]


class ModelRecord(ModelInfo):
    """model.pt: model.json's facts and the weights."""

    state_dict: dict[str, torch.Tensor]


@dataclass(frozen=True)
class Normalization:
    """The per-channel mean and std the network's input was normalized with."""

    mean: list[float]
    std: list[float]


@dataclass(frozen=True)
class CheckedInfo:
    """ModelInfo as it is checked when model.pt is read: the spec as NetSpec's fields."""

    format: str
    version: int
    space: str
    arch: Any  # the space's JSON form, which the space checks
    arch_string: str
    arch_id: str
    spec: NetSpec
    normalize: Normalization
    classes: int
    class_names: list[str]
    input: ModelInput
    dataset: str
    epochs_trained: int
    metrics: validate.Unchecked[dict[str, object]]


@dataclass(frozen=True)
class ChildCheckpoint:
    """What export reads of a child checkpoint besides its weights (train_child and the final
    training write it; the training state beside it is the resume's)."""

    arch: Any  # the space's JSON form, which the space checks
    space: str
    # NetSpec's fields for an image network (checked once the space says it is one)
    spec: validate.Unchecked[dict[str, object]] | None = None
    normalize: Normalization | None = None  # None: written before it was recorded
    class_names: list[str] | None = None
    dataset: str = ""
    epoch: int = 0


@dataclass(frozen=True)
class Exported:
    """export_model's files (model, program, info; package: model.aoti.pt2 or None when it was
    not compiled), the compile's wall time, the load command and the model's metrics (what `nao
    export` prints as JSON)."""

    model: str
    program: str
    package: str | None
    compile_seconds: float | None
    info: str
    load: str
    arch_id: str
    metrics: dict[str, object]


class ExportError(NaoError):
    """A checkpoint cannot be exported (missing, not a child checkpoint, or of a language model)."""


class Classifier(nn.Module):
    """Pixels in [0, 1] -> logits: the data set's per-channel normalization, then the network."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits, _aux = self.net((x - self.mean) / self.std)
        return logits


def read_checkpoint(
    location: str | Path, cluster: ClusterConfig | None = None
) -> tuple[dict[str, Any], Path | None]:
    """A child checkpoint and, when it is a local file, where it was.

    location: a file, a folder holding checkpoint.pt, or s3://BUCKET/KEY in the object store at
    cluster.s3_endpoint (credentials from S3_ACCESS_KEY / S3_SECRET_KEY, as for the search). A
    checkpoint with a SHA-256 recorded beside it (any store's) is checked against it first, and
    a corrupted one is refused; a plain torch file (train-child's, the final training's) loads
    as it is."""
    text = str(location)
    with tempfile.TemporaryDirectory(prefix="nao-export-") as tmp:
        fetched = Path(tmp) / CHECKPOINT
        if text.startswith(S3_SCHEME):
            path, where = _from_s3(text, cluster, fetched), None
        else:
            where = Path(text) / CHECKPOINT if Path(text).is_dir() else Path(text)
            if not where.is_file():
                raise ExportError(f"--checkpoint {where}: no such file")
            path = _checked(where, fetched)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle, zip and unpickling-policy errors alike
            raise ExportError(
                f"--checkpoint {where or text}: not a torch checkpoint ({type(e).__name__})"
            ) from None
    what = f"--checkpoint {where or text}"
    if isinstance(state, dict) and state.get("format") == FORMAT:
        check_model_record(state, what)
        return state, where
    if not isinstance(state, dict) or not {"arch", "space", "model"} <= set(state):
        raise ExportError(
            f"{what}: not a child checkpoint (expected arch, space, model "
            "and spec; train_child and the final training write them)"
        )
    return state, where


def child_metrics(
    location: str, where: Path | None, cluster: ClusterConfig | None = None
) -> dict[str, object] | None:
    """What the training of a checkpoint measured (dev and test accuracy, params, MACs): the
    result.json beside a checkpoint file (train-child's, the final training's), else the
    store's result of the child whose checkpoint it is (a local store's path, or
    s3://BUCKET/KEY); None when neither is there or it cannot be read."""
    if where is not None and os.path.lexists(where.parent / runtime.RESULT):
        # a result beside the checkpoint is part of what the user handed in: a damaged one is
        # an error (one line), not a silently missing extra
        result = runtime.read_result(where.parent)
        return None if result is None else dict(result.to_json())
    try:
        found: object = None
        if where is not None:
            key = result_key_of(where.as_posix())
            found = LocalStore(where.parents[4]).get_json(key) if key else None
        elif location.startswith(S3_SCHEME) and cluster is not None and cluster.s3_endpoint:
            bucket, _, checkpoint_key = location[len(S3_SCHEME) :].partition("/")
            key = result_key_of(checkpoint_key)
            with tempfile.TemporaryDirectory(prefix="nao-export-") as tmp:
                store = open_store(dataclasses.replace(cluster, s3_bucket=bucket), Path(tmp))
                found = store.get_json(key) if key else None
    except (OSError, ValueError, StoreError):  # metrics are an extra: the model still exports
        return None
    return dict(found) if isinstance(found, dict) else None


def _corrupt(what: str) -> ExportError:
    return ExportError(
        f"--checkpoint {what}: checksum mismatch (corrupted or truncated); not loaded"
    )


def _checked(path: Path, dest: Path) -> Path:
    """path, or its checked copy at dest when a checksum is recorded beside it (or in the frame
    of the stores before sidecars)."""
    try:
        return dest if LocalStore(path.parent).get_file(path.name, dest) else path
    except CorruptObject:
        raise _corrupt(str(path)) from None


def _from_s3(url: str, cluster: ClusterConfig | None, dest: Path) -> Path:
    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    if not bucket or not key:
        raise ExportError(f"--checkpoint {url}: expected s3://BUCKET/KEY")
    if cluster is None or not cluster.s3_endpoint:
        raise ExportError(
            f"--checkpoint {url}: the object store's address is cluster.s3_endpoint; pass "
            "--set cluster.s3_endpoint=HOST:PORT (or a --config that sets it)"
        )

    def refuse(_e: CorruptObject) -> None:
        raise _corrupt(url)

    store = open_store(
        dataclasses.replace(cluster, s3_bucket=bucket), dest.parent, on_corrupt=refuse,
        read_only=True,
    )  # fmt: skip
    if not store.get_file(key, dest):
        raise ExportError(f"--checkpoint {url}: no such object (with a checksum) in the store")
    return dest


def model_record(
    state: dict[str, Any],
    *,
    child_cfg: ChildConfig | None = None,
    metrics: Mapping[str, object] | None = None,
    what: str = "--checkpoint",
) -> ModelRecord:
    """The self-describing checkpoint (model.pt) of a child checkpoint, checked: its facts
    against ChildCheckpoint, its weights against the network its spec describes."""
    if state.get("format") == FORMAT:
        check_model_record(state, what)
        return cast(ModelRecord, state)  # already exported
    head = _record(ChildCheckpoint, state, what)
    space, arch = _arch(head.space, head.arch, what)
    if not isinstance(arch, (CellArch, Nb201Arch)) or head.spec is None:
        raise ExportError(
            f"{what}: {space.name} children are not exported (image children of nasnet, "
            "enas and nb201 are)"
        )
    spec = dataclasses.replace(_record(NetSpec, head.spec, what, "spec"), aux_head=False)
    model = _weights(state.get("model"), what)
    weights = {k: v for k, v in model.items() if not k.startswith("aux_head.")}
    _check_network(space, arch, spec, weights, what)
    norm = dataclasses.asdict(head.normalize) if head.normalize else None
    names = head.class_names
    if norm is None:
        if child_cfg is None:
            raise ExportError(
                f"{what}: it records no data normalization (written by an older nao-kfp); "
                "pass --config (and --set) with the child section it was trained with"
            )
        norm, names = _normalization(child_cfg)
    _check_classes(spec, norm, names, what)
    return {
        "format": FORMAT,
        "version": VERSION,
        "space": space.name,
        "arch": state["arch"],
        "arch_string": space.to_string(arch),
        "arch_id": space.canonical_id(arch),
        "spec": dataclasses.asdict(spec),
        "state_dict": weights,
        "normalize": {
            "mean": [float(v) for v in norm["mean"]],
            "std": [float(v) for v in norm["std"]],
        },
        "classes": spec.classes,
        "class_names": list(names) if names else [str(i) for i in range(spec.classes)],
        "input": {"channels": spec.in_channels, "size": spec.input_size, "range": [0.0, 1.0]},
        "dataset": head.dataset or (child_cfg.dataset if child_cfg else ""),
        "epochs_trained": head.epoch,
        "metrics": {k: v for k, v in (metrics or {}).items() if k in METRIC_KEYS},
    }


def check_model_record(record: Mapping[str, object], what: str) -> NetSpec:
    """An exported model.pt's record as `read_model_file` takes it; its network's spec."""
    info = _record(CheckedInfo, {k: v for k, v in record.items() if k != "state_dict"}, what)
    if info.format != FORMAT or info.version != VERSION:
        raise ExportError(
            f"{what}: format {shorten(info.format, 40)} version {info.version}; expected "
            f"{FORMAT} version {VERSION}"
        )
    space, arch = _arch(info.space, info.arch, what)
    weights = _weights(record.get("state_dict"), what, key="state_dict")
    _check_network(space, arch, info.spec, weights, what)
    _check_classes(info.spec, dataclasses.asdict(info.normalize), info.class_names, what)
    want = {"channels": info.spec.in_channels, "size": info.spec.input_size}
    if {k: info.input[k] for k in want} != want:  # type: ignore[literal-required]
        raise ExportError(f"{what}: input: expected {want} (the spec's), got {info.input}")
    return info.spec


def read_model_file(path: Path, what: str) -> ModelRecord:
    """model.pt as `nao export` wrote it, checked (what: how errors name it)."""
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and unpickling-policy errors alike
        raise ExportError(f"{what} is not a torch file ({type(e).__name__})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ExportError(f"{what} is not an exported {FORMAT} file")
    check_model_record(record, what)
    return cast(ModelRecord, record)


def _record(cls: type[Any], state: Mapping[str, object], what: str, where: str = "") -> Any:
    """The fields of cls that state holds, checked (at the top level, extra keys are the
    training state's)."""
    names = {f.name for f in dataclasses.fields(cls)}
    data = state if where else {k: v for k, v in state.items() if k in names}
    try:
        return validate.record(cls, data, where, ExportError)
    except ExportError as e:
        raise ExportError(f"{what}: {e}") from None


def _arch(space_name: str, arch_json: object, what: str) -> tuple[SearchSpace[Arch], Arch]:
    try:
        space = get_space(space_name)
        return space, space.from_json(arch_json)
    except ArchError as e:
        raise ExportError(f"{what}: arch: {shorten(str(e))}") from None


def _weights(model: object, what: str, key: str = "model") -> dict[str, torch.Tensor]:
    if not isinstance(model, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()
    ):
        raise ExportError(f"{what}: {key}: expected the network's weights (names to tensors)")
    return model


def _check_network(
    space: SearchSpace[Arch], arch: Arch, spec: NetSpec, weights: Mapping[str, torch.Tensor],
    what: str,
) -> None:  # fmt: skip
    """The spec's values, the weights' names and shapes against the network it describes, and
    an image of its input shape through it: all on the meta device, which allocates nothing."""
    try:
        check_keys(spec, "spec.")
    except ConfigError as e:
        raise ExportError(f"{what}: {e}") from None
    try:
        net = meta_network(space, arch, spec).eval()
    except Exception as e:  # noqa: BLE001 (an impossible combination of values)
        raise ExportError(
            f"{what}: spec: no network has these settings ({type(e).__name__})"
        ) from None
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in weights.items()}
    missing = [k for k in want if k not in got]
    unknown = [k for k in got if k not in want]
    resized = [k for k in want if k in got and got[k] != want[k]]
    if missing or unknown or resized:
        first = (
            f"no {missing[0]}" if missing else f"an unknown {unknown[0]}" if unknown
            else f"{resized[0]} is {list(got[resized[0]])}, expected {list(want[resized[0]])}"
        )  # fmt: skip
        raise ExportError(
            f"{what}: model: the weights do not fit the network its spec and arch describe "
            f"({len(missing)} missing, {len(unknown)} unknown, {len(resized)} of another shape; "
            f"{shorten(first, 120)})"
        )
    side = spec.input_size
    try:
        with torch.no_grad():
            net(torch.zeros(1, spec.in_channels, side, side, device="meta"))
    except Exception as e:  # noqa: BLE001 (an input too small for its reductions)
        raise ExportError(
            f"{what}: spec: its network cannot take {spec.in_channels}x{side}x{side} images "
            f"({type(e).__name__})"
        ) from None


def _check_classes(
    spec: NetSpec, norm: Mapping[str, list[float]], names: list[str] | None, what: str
) -> None:
    for key in ("mean", "std"):
        values = norm[key]
        if len(values) != spec.in_channels or not all(math.isfinite(v) for v in values):
            raise ExportError(
                f"{what}: normalize.{key}: expected {spec.in_channels} finite numbers (one a "
                f"channel), got {shorten(str(values), 80)}"
            )
    if any(v <= 0 for v in norm["std"]):
        raise ExportError(f"{what}: normalize.std: expected positive numbers, got {norm['std']}")
    if names is not None and len(names) != spec.classes:
        raise ExportError(
            f"{what}: class_names: expected {spec.classes} names (spec.classes), got {len(names)}"
        )


def _normalization(cfg: ChildConfig) -> tuple[dict[str, list[float]], list[str]]:

    images = image_data.load_images(cfg)
    split = image_data.split(images, cfg)
    return {"mean": list(split.mean), "std": list(split.std)}, list(images.classes)


def load_classifier(record: ModelRecord | Path) -> Classifier:
    """The classifier (eval mode) of an exported model.pt, or of its record."""
    if not isinstance(record, dict):
        record = read_model_file(Path(record), f"model {record}")
    space = get_space(record["space"])
    net = build_network(space, space.from_json(record["arch"]), NetSpec(**record["spec"]))
    net.load_state_dict(record["state_dict"])
    norm = record["normalize"]
    return Classifier(net, norm["mean"], norm["std"]).eval()


def export_program(model: Classifier, record: ModelRecord) -> torch.export.ExportedProgram:
    """torch.export of the classifier for any batch size."""
    inp = record["input"]
    example = torch.rand(2, inp["channels"], inp["size"], inp["size"])
    batch = torch.export.Dim("batch", min=1, max=1 << 16)
    try:
        with torch.no_grad():
            return torch.export.export(model, (example,), dynamic_shapes={"x": {0: batch}})
    except Exception as e:  # noqa: BLE001 (a network torch.export cannot trace)
        raise ExportError(
            f"model: torch.export cannot export this network ({type(e).__name__}: "
            f"{shorten(str(e).splitlines()[0] if str(e) else '', 120)})"
        ) from None


def load_command(out_dir: Path, record: ModelRecord | None = None) -> str:
    """One command that loads the exported program and classifies a random batch."""
    c, s = (record["input"]["channels"], record["input"]["size"]) if record else (3, 32)
    path = Path(out_dir) / PROGRAM_FILE
    return (
        f"python -c \"import torch; m = torch.export.load('{path}').module(); "
        f'print(m(torch.rand(4, {c}, {s}, {s})).argmax(1))"'
    )


def cxx_compiler() -> str | None:
    """The C++ compiler AOTInductor compiles with ($CXX, else g++), or None when it does not
    run here."""
    # (torch._inductor takes over a second to import: only the export that compiles loads it)
    from torch._inductor import cpp_builder, exc  # noqa: PLC0415

    try:
        return str(cpp_builder.get_cpp_compiler())
    except exc.InvalidCxxCompiler:
        return None


def package_options() -> dict[str, object]:
    """AOTInductor settings: kernels that read the thread count when they run (the server's
    --threads) instead of this machine's core count; on x86-64, code for AVX2 CPUs
    (x86-64-v3) instead of -march=native, so a package compiled on a training node with AMX
    still runs on the serving node."""
    from torch._inductor import cpu_vec_isa  # noqa: PLC0415 (as cxx_compiler's)

    options: dict[str, object] = {"cpp.dynamic_threads": True}
    isas = {str(isa) for isa in cpu_vec_isa.valid_vec_isa_list()}
    if platform.machine() in ("x86_64", "AMD64") and "avx2" in isas:
        options.update({"cpp.simdlen": 256, "cpp.march": "x86-64-v3"})
    return options


def compile_package(
    program: torch.export.ExportedProgram, out_dir: Path, log: Callable[[str], None]
) -> tuple[str | None, float | None]:
    """model.aoti.pt2 beside model.pt2 (AOTInductor); its path and the compile's wall time, or
    (None, None) with one line in the log when there is no C++ compiler or the compile fails:
    the package only makes serving faster, and model.pt2 is already written."""
    path = Path(out_dir) / PACKAGE_FILE
    path.unlink(missing_ok=True)  # never an earlier export's package beside this program
    compiler = cxx_compiler()
    if compiler is None:
        log(
            f"export: no C++ compiler ($CXX, else g++): {PACKAGE_FILE} not written; "
            f"nao serve runs {PROGRAM_FILE}"
        )
        return None, None
    log(f"export: compiling {PACKAGE_FILE} with AOTInductor ({compiler}; a minute or more)")
    start = time.monotonic()
    try:
        _atomic(path, lambda tmp: torch._inductor.aoti_compile_and_package(
            program, package_path=str(tmp), inductor_configs=package_options()))  # fmt: skip
    except Exception as e:  # a compiler error, a missing header, an unsupported op alike
        first = (str(e).strip().splitlines() or [""])[0][:200]
        log(
            f"export: the AOTInductor compile failed ({type(e).__name__}: {first}); "
            f"{PACKAGE_FILE} not written; nao serve runs {PROGRAM_FILE}"
        )
        return None, None
    seconds = round(time.monotonic() - start, 1)
    log(f"export: {PACKAGE_FILE} compiled in {seconds:.0f} s")
    return str(path), seconds


def export_model(
    checkpoint: str | Path,
    out_dir: Path,
    *,
    child_cfg: ChildConfig | None = None,
    cluster: ClusterConfig | None = None,
    aot_compile: bool = False,
    log: Callable[[str], None] | None = None,
) -> Exported:
    """Write model.pt, model.pt2 and model.json into out_dir, and with aot_compile=True
    model.aoti.pt2 where a C++ compiler is found (compile_package); return their paths, the
    load command and the model's description. checkpoint: as read_checkpoint takes it.
    Everything is read, checked and exported before out_dir is touched; a write that fails
    removes what it created (a compile that fails leaves the rest written)."""

    state, path = read_checkpoint(checkpoint, cluster)
    metrics = child_metrics(str(checkpoint), path, cluster)
    record = model_record(
        state, child_cfg=child_cfg, metrics=metrics, what=f"--checkpoint {path or checkpoint}"
    )
    model = load_classifier(record)
    program = export_program(model, record)
    out_dir = Path(out_dir)
    info = {k: v for k, v in record.items() if k != "state_dict"}
    info["load"] = load = load_command(out_dir, record)
    with created_dir(out_dir):
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            _atomic(out_dir / MODEL_FILE, lambda tmp: torch.save(record, tmp))
            _atomic(out_dir / PROGRAM_FILE, lambda tmp: torch.export.save(program, tmp))
            _atomic(
                out_dir / INFO_FILE,
                lambda tmp: tmp.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n"),
            )
        except OSError as e:
            raise ExportError(
                f"--out {out_dir}: cannot write ({e.strerror or type(e).__name__})"
            ) from None
    if aot_compile:
        package, seconds = compile_package(program, out_dir, log or (lambda _line: None))
    else:
        (out_dir / PACKAGE_FILE).unlink(missing_ok=True)  # never an earlier export's package
        package, seconds = None, None
    return Exported(
        model=str(out_dir / MODEL_FILE),
        program=str(out_dir / PROGRAM_FILE),
        package=package,
        compile_seconds=seconds,
        info=str(out_dir / INFO_FILE),
        load=load,
        arch_id=record["arch_id"],
        metrics=record["metrics"],
    )


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # torch.export wants a .pt2 name
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
