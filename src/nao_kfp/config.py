"""Typed configuration: nested frozen dataclasses, loaded from YAML presets and checked once.

Every key is declared here with its type and default. Loading rejects unknown keys (with a
suggestion) and wrong types, naming the full key path, then checks cross-field constraints.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nao_kfp.errors import ConfigError

PRESETS_DIR = Path(__file__).parent / "configs"


@dataclass(frozen=True)
class SearchConfig:
    """Algorithm 1: how many architectures, rounds and proposals."""

    space: str = "enas"
    rounds: int = 3  # L
    initial_archs: int = 20  # N random architectures before round 1
    top_k: int = 10  # K seed architectures whose embeddings are optimized
    new_archs: int = 10  # new architectures proposed per round
    eta: float = 10.0  # step size of the embedding optimization
    eta_growth: float = 2.0  # multiply eta by this when a decoded arch is already known
    eta_max: float = 1000.0
    seed: int = 0
    early_stop: bool = False  # skip later rounds when a round brought no improvement
    shards: int = 2  # children are split into this many train-children tasks per round


@dataclass(frozen=True)
class ControllerConfig:
    """The NAO encoder / predictor / decoder and its joint training (Eq. 1)."""

    embedding_size: int = 32
    hidden_size: int = 96
    mlp_layers: int = 1
    mlp_hidden: int = 200
    dropout: float = 0.0
    trade_off: float = 0.9  # lambda in  lambda*MSE + (1-lambda)*NLL
    optimizer: str = "adam"
    lr: float = 1e-3
    # constant: the paper's fixed Adam lr. cosine: linear warm-up over warmup_epochs, then a
    # cosine decay to lr * lr_min_ratio at the last epoch (fewer epochs to the same quality).
    lr_schedule: str = "constant"
    warmup_epochs: int = 0
    lr_min_ratio: float = 0.0
    epochs: int = 1000
    batch_size: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    symmetric_augment: bool = True
    # Early stopping on a held-out slice of the training pool; 0 disables it.
    patience: int = 0
    holdout_fraction: float = 0.1
    eval_every: int = 10
    # CPU threads while training: the LSTMs' matrices are small, so extra threads mostly add
    # contention (measured in benchmarks/bench_controller.py); 0 keeps torch's default.
    threads: int = 1


@dataclass(frozen=True)
class RnnChildConfig:
    """Language-model settings for the enas-rnn space (the paper's PTB recipe)."""

    embedding_size: int = 850
    hidden_size: int = 850
    bptt: int = 35
    eval_batch_size: int = 10
    dropout: float = 0.75  # output (variational) dropout
    dropout_h: float = 0.25  # recurrent dropout
    dropout_x: float = 0.75  # cell input dropout
    dropout_i: float = 0.2  # embedding output dropout
    dropout_e: float = 0.1  # embedding (word) dropout
    lr_decay: float = 0.96  # multiplicative per-epoch decay after lr_decay_start
    lr_decay_start: int = 15
    max_vocab: int = 0  # 0: keep every word of the corpus


@dataclass(frozen=True)
class ChildConfig:
    """How a child network is built and trained (paper §4, appendix 7.1)."""

    dataset: str = "digits"  # digits | cifar10 | cifar100 | image-folder | ptb
    data_dir: str = ""
    # Images carved from the training set; their accuracy is what the search sees. Sized for the
    # default data set (digits has 1797 images); the cifar10 preset uses the paper's 5000.
    dev_size: int = 500
    train_subset: int = 0  # 0: all remaining training images
    layers: int = 6  # N cells per stage
    channels: int = 36  # F
    epochs: int = 20
    batch_size: int = 128
    lr_max: float = 0.024
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 5.0
    drop_path: float = 0.0  # drop probability at the deepest cell at the end of training
    aux_head: bool = False
    aux_weight: float = 0.4
    cutout: int = 0  # cutout length in pixels; 0 disables
    num_workers: int = 0
    # CPU threads for torch while a child trains; 0 keeps torch's default (all visible cores).
    # Small children on shared or oversubscribed CPUs run many times faster with 1.
    cpu_threads: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast + channels_last on CUDA
    download: bool = False  # let torchvision download CIFAR when data_dir lacks it (clusters only)
    dropout: float = 0.0  # before the classifier
    rnn: RnnChildConfig = field(default_factory=RnnChildConfig)


@dataclass(frozen=True)
class SupernetConfig:
    """Weight sharing (NAO-WS): one supernet trained on the current pool, scoring architectures
    by their accuracy on fixed dev batches with the shared weights (nao_kfp.child.supernet).
    The data, device, amp and cpu_threads come from the child section."""

    layers: int = 3  # N cells per stage of the supernet
    channels: int = 20  # F (C for nb201)
    batch_size: int = 64
    epochs: int = 150  # the whole schedule; the cosine lr spans it
    rounds_every: int = 30  # epochs of supernet training between two controller rounds
    lr_max: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    drop_path: float = 0.1  # drop probability at the deepest cell at the end of the schedule
    eval_batch_size: int = 500
    dev_batches: int = 1  # an architecture's score: its accuracy on this many fixed dev batches
    # BatchNorm statistics when scoring: train (each dev batch's own statistics, the official
    # NAO-WS code; ranked best on enas), running (the statistics accumulated while training the
    # supernet; ranked best on nb201) or recalibrate (re-estimated per architecture on
    # bn_batches training batches); the measurements are in child/supernet_train.py.
    bn: str = "train"
    bn_batches: int = 4
    rerank_top: int = 5  # final selection: retrain this many best-scored architectures from
    rerank_epochs: int = 10  # scratch (child section, these many epochs) and keep the best


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how the pipeline runs on Kubeflow."""

    image: str = "ghcr.io/nao-kfp/nao-kfp:0.1.0"
    gpu_resource: str = "nvidia.com/gpu"
    gpu_count: int = 1
    accelerator_type: str = ""  # e.g. nvidia-tesla-a100; sets the accelerator node selector
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)
    parallelism: int = 4
    retries: int = 3
    retry_backoff: str = "60s"
    cpu_request: str = "4"
    memory_request: str = "16Gi"
    pipeline_root: str = ""  # e.g. minio://mlpipeline/nao; empty: the cluster's default
    s3_endpoint: str = ""  # host:port of our result/checkpoint store; empty: local directory store
    s3_bucket: str = "nao"
    s3_secret: str = "nao-s3"  # Kubernetes secret holding S3_ACCESS_KEY / S3_SECRET_KEY
    s3_secure: bool = False
    store_dir: str = ""  # local store directory when s3_endpoint is empty


@dataclass(frozen=True)
class Config:
    name: str = "nao"
    search: SearchConfig = field(default_factory=SearchConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    child: ChildConfig = field(default_factory=ChildConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        cfg = _build(cls, data, "")
        check(cfg)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)

    def digest(self, *sections: str) -> str:
        """Stable short hash of the named sections (all when none), for cache keys."""
        d = self.to_dict()
        part = {s: d[s] for s in sections} if sections else d
        blob = json.dumps(part, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- building and type checking


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return {
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "bool": "true/false",
        }.get(tp.__name__, tp.__name__)
    origin = typing.get_origin(tp)
    if origin is dict:
        return "a mapping"
    if origin is list:
        return "a list"
    return str(tp)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping of keys, got {type(value).__name__}")
        return _build(tp, value, path + ".")  # type: ignore[arg-type]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_show(value)}")
        _k, v_tp = typing.get_args(tp)
        return {str(k): _coerce(v_tp, v, f"{path}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        (e_tp,) = typing.get_args(tp)
        return [_coerce(e_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise TypeError("unions are not used in configs")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        # YAML 1.1 (PyYAML) reads `1e-3` as a string; accept what anyone would call a number.
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_show(value)}")


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = (
                f" (did you mean {close[0]}?)"
                if close
                else f" (expected one of: {', '.join(names)})"
            )
            raise ConfigError(f"{prefix}{key}: unknown key{hint}")
        kwargs[key] = _coerce(hints[key], value, prefix + key)
    return cls(**kwargs)


# ---------------------------------------------------------------- cross-field constraints

DATASETS = ("digits", "cifar10", "cifar100", "image-folder", "ptb")
# Training-set sizes of the built-in image data sets, to check dev_size + train_subset early.
# digits: 1797 images, of which nao_kfp.child.data holds out a fixed 297 as the test set
TRAIN_IMAGES = {"digits": 1500, "cifar10": 50000, "cifar100": 50000}


def check(cfg: Config) -> None:
    """Cross-field constraints, checked once at load time."""
    from nao_kfp.spaces import SPACES

    s, c, ch, cl = cfg.search, cfg.controller, cfg.child, cfg.cluster
    if s.space not in SPACES:
        raise ConfigError(
            f"search.space: unknown space {s.space!r} (expected one of: {', '.join(SPACES)})"
        )
    _positive("search.rounds", s.rounds, zero_ok=True)
    _positive("search.initial_archs", s.initial_archs)
    _positive("search.top_k", s.top_k)
    _positive("search.new_archs", s.new_archs)
    _positive("search.shards", s.shards)
    if s.top_k > s.initial_archs:
        raise ConfigError(
            f"search.top_k: {s.top_k} seeds but only {s.initial_archs} initial architectures (search.initial_archs)"
        )
    if s.eta <= 0:
        raise ConfigError(f"search.eta: expected a positive step size, got {s.eta}")
    if s.eta_growth <= 1:
        raise ConfigError(f"search.eta_growth: expected a factor > 1, got {s.eta_growth}")
    if s.eta_max < s.eta:
        raise ConfigError(f"search.eta_max: {s.eta_max} is below search.eta {s.eta}")
    for key in (
        "embedding_size",
        "hidden_size",
        "mlp_layers",
        "mlp_hidden",
        "epochs",
        "batch_size",
    ):
        _positive(f"controller.{key}", getattr(c, key))
    if not 0.0 <= c.trade_off <= 1.0:
        raise ConfigError(f"controller.trade_off: expected a value in [0, 1], got {c.trade_off}")
    if not 0.0 <= c.dropout < 1.0:
        raise ConfigError(f"controller.dropout: expected a value in [0, 1), got {c.dropout}")
    if c.optimizer not in ("adam", "adamw"):
        raise ConfigError(f"controller.optimizer: expected adam or adamw, got {c.optimizer!r}")
    if c.lr <= 0:
        raise ConfigError(f"controller.lr: expected a positive learning rate, got {c.lr}")
    if c.lr_schedule not in ("constant", "cosine"):
        raise ConfigError(
            f"controller.lr_schedule: expected constant or cosine, got {c.lr_schedule!r}"
        )
    _positive("controller.warmup_epochs", c.warmup_epochs, zero_ok=True)
    if c.warmup_epochs >= c.epochs and c.lr_schedule == "cosine":
        raise ConfigError(
            f"controller.warmup_epochs: expected fewer than controller.epochs ({c.epochs}), got {c.warmup_epochs}"
        )
    if not 0.0 <= c.lr_min_ratio <= 1.0:
        raise ConfigError(
            f"controller.lr_min_ratio: expected a value in [0, 1], got {c.lr_min_ratio}"
        )
    if not 0.0 <= c.holdout_fraction < 1.0:
        raise ConfigError(
            f"controller.holdout_fraction: expected a value in [0, 1), got {c.holdout_fraction}"
        )
    _positive("controller.patience", c.patience, zero_ok=True)
    _positive("controller.weight_decay", c.weight_decay, zero_ok=True)
    _positive("controller.grad_clip", c.grad_clip, zero_ok=True)
    _positive("controller.eval_every", c.eval_every)
    _positive("controller.threads", c.threads, zero_ok=True)
    if ch.dataset not in DATASETS:
        raise ConfigError(
            f"child.dataset: unknown data set {ch.dataset!r} (expected one of: {', '.join(DATASETS)})"
        )
    if (ch.dataset == "ptb") != (s.space == "enas-rnn"):
        raise ConfigError(
            f"child.dataset: {ch.dataset!r} does not fit search.space {s.space!r} (ptb goes with enas-rnn only)"
        )
    if ch.dataset in ("image-folder", "ptb") and not ch.data_dir:
        raise ConfigError(f"child.data_dir: required for child.dataset {ch.dataset!r}")
    for key in ("layers", "channels", "epochs", "batch_size"):
        _positive(f"child.{key}", getattr(ch, key))
    _positive("child.dev_size", ch.dev_size)
    _positive("child.train_subset", ch.train_subset, zero_ok=True)
    total = TRAIN_IMAGES.get(ch.dataset)
    if total is not None and ch.dev_size + max(ch.train_subset, 1) > total:
        raise ConfigError(
            f"child.dev_size: {ch.dev_size} dev + {ch.train_subset} train images do not fit in "
            f"{ch.dataset}'s {total} training images"
        )
    for key in ("weight_decay", "grad_clip", "aux_weight"):
        _positive(f"child.{key}", getattr(ch, key), zero_ok=True)
    if not 0.0 <= ch.momentum < 1.0:
        raise ConfigError(f"child.momentum: expected a value in [0, 1), got {ch.momentum}")
    if ch.lr_max <= 0 or ch.lr_min < 0 or ch.lr_min > ch.lr_max:
        raise ConfigError(
            f"child.lr_min: expected 0 <= lr_min <= lr_max, got {ch.lr_min} and {ch.lr_max}"
        )
    if not 0.0 <= ch.drop_path < 1.0:
        raise ConfigError(f"child.drop_path: expected a probability in [0, 1), got {ch.drop_path}")
    if ch.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"child.device: expected auto, cpu or cuda, got {ch.device!r}")
    _positive("child.cutout", ch.cutout, zero_ok=True)
    _positive("child.cpu_threads", ch.cpu_threads, zero_ok=True)
    _check_supernet(cfg.supernet)
    _positive("cluster.gpu_count", cl.gpu_count, zero_ok=True)
    _positive("cluster.parallelism", cl.parallelism)
    _positive("cluster.retries", cl.retries, zero_ok=True)
    if ":" not in cl.image.rsplit("/", 1)[-1] and "@" not in cl.image:
        raise ConfigError(
            f"cluster.image: {cl.image!r} has no tag; pin a version (no implicit :latest)"
        )
    if cl.image.endswith(":latest"):
        raise ConfigError(f"cluster.image: {cl.image!r} uses :latest; pin a version")
    for i, tol in enumerate(cl.tolerations):
        unknown = set(tol) - {"key", "operator", "value", "effect"}
        if unknown:
            raise ConfigError(
                f"cluster.tolerations[{i}].{sorted(unknown)[0]}: unknown key (expected key, operator, value, effect)"
            )
        if "key" not in tol and tol.get("operator") != "Exists":
            raise ConfigError(f"cluster.tolerations[{i}]: needs a key (or operator: Exists)")


SUPERNET_BN = ("train", "recalibrate", "running")


def _check_supernet(sn: SupernetConfig) -> None:
    for key in ("layers", "channels", "batch_size", "epochs", "rounds_every", "eval_batch_size"):
        _positive(f"supernet.{key}", getattr(sn, key))
    for key in ("dev_batches", "rerank_epochs"):
        _positive(f"supernet.{key}", getattr(sn, key))
    for key in ("weight_decay", "grad_clip", "rerank_top", "bn_batches"):
        _positive(f"supernet.{key}", getattr(sn, key), zero_ok=True)
    if sn.rounds_every > sn.epochs:
        raise ConfigError(
            f"supernet.rounds_every: {sn.rounds_every} is more than supernet.epochs {sn.epochs}"
        )
    if sn.lr_max <= 0 or sn.lr_min < 0 or sn.lr_min > sn.lr_max:
        raise ConfigError(
            f"supernet.lr_min: expected 0 <= lr_min <= lr_max, got {sn.lr_min} and {sn.lr_max}"
        )
    if not 0.0 <= sn.momentum < 1.0:
        raise ConfigError(f"supernet.momentum: expected a value in [0, 1), got {sn.momentum}")
    if not 0.0 <= sn.drop_path < 1.0:
        raise ConfigError(
            f"supernet.drop_path: expected a probability in [0, 1), got {sn.drop_path}"
        )
    if sn.bn not in SUPERNET_BN:
        raise ConfigError(f"supernet.bn: expected one of {', '.join(SUPERNET_BN)}, got {sn.bn!r}")
    if sn.bn == "recalibrate" and sn.bn_batches == 0:
        raise ConfigError("supernet.bn_batches: recalibrate needs at least one training batch")


def _positive(path: str, value: float, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        want = "a non-negative" if zero_ok else "a positive"
        raise ConfigError(f"{path}: expected {want} number, got {value}")


# ---------------------------------------------------------------- loading


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], value); the value is parsed as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. search.rounds=3")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text}: expected a dotted key before '=', e.g. search.rounds=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = json.loads(json.dumps(data))
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {text}: {part} is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def preset_path(name: str) -> Path:
    """A preset by name (`demo`) or a path to a YAML file."""
    p = Path(name)
    # A preset name wins over a same-named directory (e.g. a run folder called `demo`).
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise ConfigError(f"--config {name}: no such file")
        return p
    candidate = PRESETS_DIR / f"{name}.yaml"
    if not candidate.exists():
        names = sorted(x.stem for x in PRESETS_DIR.glob("*.yaml"))
        raise ConfigError(f"--config {name}: no such preset or file (presets: {', '.join(names)})")
    return candidate


def load_config(name: str | None = "demo", overrides: list[str] | None = None) -> Config:
    """Load a preset or YAML file, apply `a.b=value` overrides, check everything once."""
    data: dict[str, Any] = {}
    if name:
        path = preset_path(name)
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = loaded
    data = apply_overrides(data, overrides or [])
    return Config.from_dict(data)


def config_from_json(text: str) -> Config:
    """The pipeline passes the whole config as one JSON string parameter."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"config: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError("config: expected a JSON object")
    return Config.from_dict(data)


def config_to_json(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), sort_keys=True)
