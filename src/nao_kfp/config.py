"""Typed configuration: nested frozen dataclasses, loaded from YAML presets and checked once.

Every key is declared here with its type and default. Loading rejects unknown keys (with a
suggestion) and wrong types, naming the full key path, then checks cross-field constraints.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
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
    # Epochs of a warm-started fit (rounds after the first); 0: controller.epochs. A warm start
    # already encodes, ranks and decodes the earlier pool, so a short fit only has to absorb the
    # last round's few new archs.
    warm_epochs: int = 0
    # Cap on evaluated architectures (a query budget); 0: none. Decoding proposes no more than
    # what is left, so the first n evaluations of a search with budget B are the search with n.
    max_evaluations: int = 0
    # Decoding rounds per step while proposals are duplicates or cannot be evaluated (e.g. not in
    # the table); each grows eta from search.eta again past what it found.
    decode_attempts: int = 20
    # What fills a round when decoding found fewer new archs than search.new_archs:
    # random (unseen random architectures, source random-fill) or none.
    fill: str = "random"
    # How a round's shard results reach its merge task: artifacts (dsl.Collected; needs KFP
    # backend >= 2.14.0) or store (each shard writes its results to the result store and
    # merge runs after the whole loop and reads them there; any KFP 2 backend).
    fan_in: str = "artifacts"

    # ---- how a round picks its new architectures (issue 11); the default is the paper's.
    # first: decode every seed at eta, grow eta until search.new_archs are new. predicted:
    # decode every seed at every step of the ladder eta, eta * eta_growth, ... <= eta_max, and
    # query the candidates f ranks highest (f + explore * the spread of the ensemble's heads).
    select: str = "first"
    # select predicted: keep the `beam` most likely architectures of each decoding (beam
    # search; 1: greedy) -- the decoder's near alternatives to where the step landed.
    beam: int = 1
    # select predicted: rank at least this many candidates; while fewer are new, decode again
    # with twice the beam (up to search.decode_attempts times). 0: one decoding as it comes.
    candidates: int = 0
    explore: float = 0.0
    # Share of a round's new architectures drawn at random instead (exploration), e.g. 0.1.
    random_share: float = 0.0
    # SemiNAS in a warm-started fit: how many pseudo-labeled architectures, for how many
    # epochs (0 epochs: none; the cold fit's controller.pseudo_* already taught the decoder the
    # space, these keep it from narrowing to the evaluated few).
    warm_pseudo_labels: int = 0
    warm_pseudo_epochs: int = 0
    # A warm-started fit trains only the predictor (controller.predictor_only): the cold fit's
    # encoder and decoder stay as they are, so the embedding space and the decoder's
    # neighbourhoods stay the same from round to round, and a round costs milliseconds.
    warm_predictor_only: bool = False
    # select predicted: beside the decoded candidates, this many random one-step mutations
    # (space.mutate) of each top-K seed join the ranking (BANANAS's local candidates). 0: none.
    mutations: int = 0

    # ---- priors (issue 20): pools of earlier searches in the same space, any data set.
    # Pool files (local paths, or s3://bucket/key read through the store). Accuracies from other
    # data sets are not comparable, so each file counts by ranks: an architecture's quantile
    # within its own file, mapped onto this search's evaluated accuracies (quantile) or its
    # z-score within the file onto theirs (zscore). Every fit trains on them beside the
    # search's own architectures, each weighing prior_weight times an own one, halved every
    # prior_half_life own evaluations (0: never).
    prior: list[str] = field(default_factory=list)
    prior_seed: int = 0  # with priors: this many initial archs are the priors' best, not random
    prior_targets: str = "quantile"
    prior_weight: float = 1.0
    prior_half_life: int = 0

    # Budgets on the child network the search trains (child.layers, child.channels, the data
    # set's image size; parameters without the auxiliary head, multiply-adds of one image):
    # sampling and decoding only return architectures within them. 0: no limit.
    max_params: int = 0
    max_macs: int = 0


@dataclass(frozen=True)
class EvaluatorConfig:
    """How an architecture gets its accuracy: one seam for every way of evaluating.

    train      train the child network (child.*), with the store's result cache and resume
    table      look it up in a CSV table (arch, valid[, test, seconds]): the tabular benchmark
    synthetic  a seeded smooth function of the tokens, for tests and dry runs (no training)
    """

    kind: str = "train"
    table: str = ""  # kind table: the CSV file
    # kind table: a decoded architecture missing from the table queries the unseen row nearest
    # to it in tokens (nearest) or is skipped (skip). On a complete table it never happens.
    unavailable: str = "nearest"
    synthetic_seed: int = 0  # kind synthetic: which function
    synthetic_noise: float = 0.0  # kind synthetic: seeded noise (accuracy units)


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

    # ---- the predictor's loss and heads, and semi-supervised training (issue 11). The
    # defaults are the paper's: one head, MSE only, labeled architectures only.
    # A ranking loss beside MSE: none, hinge (pairwise: a better arch must score rank_margin
    # higher on the [0, 1] scale) or listwise (ListMLE on the logits); rank_weight is its
    # share of the predictor loss, (1 - rank_weight) * MSE + rank_weight * rank.
    rank_loss: str = "none"
    rank_weight: float = 0.5
    rank_margin: float = 0.05
    # Predictor heads on the one encoder, each trained on its own bootstrap of the pool
    # (Poisson(1) weights); f is their mean and their spread feeds search.explore.
    ensemble: int = 1
    # SemiNAS (Luo et al. 2020): after a fit, label this many unseen random architectures with
    # the predictor and train pseudo_epochs more epochs on the labeled and pseudo-labeled ones.
    pseudo_labels: int = 0
    pseudo_epochs: int = 0
    pseudo_batch_size: int = 0  # 0: controller.batch_size (larger batches: fewer, cheaper steps)
    # Train only the predictor heads, on the embeddings of the encoder as it is (encoder and
    # decoder keep their weights; one cheap MLP step per batch). search.warm_predictor_only
    # sets it for warm-started fits.
    predictor_only: bool = False


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
    # A child that raises (out of memory, a diverged loss, a crash) is trained again this many
    # times, from its last checkpoint, before it is recorded as failed.
    retries: int = 1
    rnn: RnnChildConfig = field(default_factory=RnnChildConfig)


@dataclass(frozen=True)
class FinalConfig:
    """The final training after the search (paper §4.1): the best architecture, or the best of
    the top `rerank_top` after a short run of `rerank_epochs` each, trained at full size. The
    data set, dev split, device and momentum come from the child section; the rest is here."""

    enabled: bool = False
    rerank_top: int = 1  # 1: train the search's best as is
    rerank_epochs: int = 20  # each of the top few, with this recipe but this many epochs
    layers: int = 6  # N
    channels: int = 36  # F
    epochs: int = 600
    batch_size: int = 128
    lr_max: float = 0.025
    lr_min: float = 0.0
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    cutout: int = 16
    aux_head: bool = True
    aux_weight: float = 0.4
    drop_path: float = 0.2
    dropout: float = 0.4  # before the classifier
    train_subset: int = 0  # 0: every training image left after the dev set


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

    def schedule(self) -> list[int]:
        """The supernet epoch at which each round scores the pool: every rounds_every epochs
        and at the end (the official NAO-WS: 30, 60, 90, 120, 150), one round each."""
        points = list(range(self.rounds_every, self.epochs + 1, self.rounds_every))
        return points if points and points[-1] == self.epochs else [*points, self.epochs]


# The node label GKE puts on GPU nodes (cluster.accelerator_type is its value, e.g.
# nvidia-tesla-a100); other clusters select nodes with cluster.node_selector instead.
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"


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
    # A store that does not answer is retried with exponential backoff (from
    # store_retry_delay_s, at most 30 s apart) until store_deadline_s; then the task fails.
    store_deadline_s: float = 300.0
    store_retry_delay_s: float = 1.0


@dataclass(frozen=True)
class Config:
    name: str = "nao"
    search: SearchConfig = field(default_factory=SearchConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    child: ChildConfig = field(default_factory=ChildConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
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
            if not math.isfinite(value):
                raise ConfigError(f"{path}: expected a finite number, got {value}")
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
EVALUATORS = ("train", "table", "synthetic", "supernet")
SUPERNET_SPACES = ("nasnet", "enas", "nb201", "enas-rnn")  # child/supernet.py, child/rnn.py
FILLS = ("random", "none")
SELECTS = ("first", "predicted")
PRIOR_TARGETS = ("quantile", "zscore")
RANK_LOSSES = ("none", "hinge", "listwise")
# Training-set sizes of the built-in image data sets, to check dev_size + train_subset early.
# digits: 1797 images, of which nao_kfp.child.data holds out a fixed 297 as the test set
TRAIN_IMAGES = {"digits": 1500, "cifar10": 50000, "cifar100": 50000}
# Spaces whose child is a CellNetwork: parameter budgets apply to them.
BUDGET_SPACES = ("nasnet", "enas")
# Spaces whose child is an image network: the final training trains and exports it.
FINAL_SPACES = ("nasnet", "enas", "nb201")
# Spaces whose child nao_kfp.child.train_child can train: evaluator.kind train needs one.
TRAINER_SPACES = ("nasnet", "enas", "enas-rnn", "nb201")
# numpy's seed range; torch takes more, but a seed is also a numpy seed in the child runtime.
MAX_SEED = 2**32 - 1
# The pipeline unrolls its rounds and shards at compile time. Each round adds a task (about
# 1 KiB) to the compiled IR: 200 rounds keep it under the 300 KiB tests/test_pipeline_size.py
# bounds. Each shard is a task of every round; more than this is no search one cluster runs.
MAX_ROUNDS = 200
MAX_SHARDS = 1000
# config.name names the default run folder (runs/<name>-<time>) and the KFP run.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")


def check(cfg: Config) -> None:
    """Cross-field constraints, checked once at load time."""
    from nao_kfp.spaces import SPACES

    s, c, ch, cl = cfg.search, cfg.controller, cfg.child, cfg.cluster
    if not NAME.match(cfg.name):
        raise ConfigError(
            f"name: expected letters, digits, spaces, '.', '_' or '-' starting with a letter or "
            f"digit (it names the run folder), got {cfg.name!r}"
        )
    if s.space not in SPACES:
        raise ConfigError(
            f"search.space: unknown space {s.space!r} (expected one of: {', '.join(SPACES)})"
        )
    _positive("search.rounds", s.rounds)
    _positive("search.initial_archs", s.initial_archs)
    _positive("search.top_k", s.top_k)
    _positive("search.new_archs", s.new_archs)
    _positive("search.shards", s.shards)
    _unrolled("search.rounds", s.rounds, MAX_ROUNDS, "rounds")
    _unrolled("search.shards", s.shards, MAX_SHARDS, "shards")
    size = _space_size(s.space)
    if s.initial_archs > size:
        raise ConfigError(
            f"search.initial_archs: {s.initial_archs} is more than the {size} architectures of the {s.space} space"
        )
    if s.top_k > s.initial_archs:
        raise ConfigError(
            f"search.top_k: {s.top_k} seeds but only {s.initial_archs} initial architectures (search.initial_archs)"
        )
    if not 0 <= s.seed <= MAX_SEED:
        raise ConfigError(f"search.seed: expected 0..{MAX_SEED}, got {s.seed}")
    _positive("search.max_params", s.max_params, zero_ok=True)
    _positive("search.max_macs", s.max_macs, zero_ok=True)
    for key in ("max_params", "max_macs"):
        if getattr(s, key) and s.space not in BUDGET_SPACES and cfg.evaluator.kind != "table":
            raise ConfigError(
                f"search.{key}: budgets apply to the image children of {' and '.join(BUDGET_SPACES)}, "
                f"not to search.space {s.space!r}"
            )
    if s.eta <= 0:
        raise ConfigError(f"search.eta: expected a positive step size, got {s.eta}")
    if s.eta_growth <= 1:
        raise ConfigError(f"search.eta_growth: expected a factor > 1, got {s.eta_growth}")
    if s.eta_max < s.eta:
        raise ConfigError(f"search.eta_max: {s.eta_max} is below search.eta {s.eta}")
    _positive("search.warm_epochs", s.warm_epochs, zero_ok=True)
    _positive("search.max_evaluations", s.max_evaluations, zero_ok=True)
    _positive("search.decode_attempts", s.decode_attempts)
    if s.fill not in FILLS:
        raise ConfigError(f"search.fill: expected one of {', '.join(FILLS)}, got {s.fill!r}")
    if s.select not in SELECTS:
        raise ConfigError(f"search.select: expected one of {', '.join(SELECTS)}, got {s.select!r}")
    _positive("search.beam", s.beam)
    _positive("search.candidates", s.candidates, zero_ok=True)
    _positive("search.warm_pseudo_labels", s.warm_pseudo_labels, zero_ok=True)
    _positive("search.warm_pseudo_epochs", s.warm_pseudo_epochs, zero_ok=True)
    _positive("search.explore", s.explore, zero_ok=True)
    if not 0.0 <= s.random_share <= 1.0:
        raise ConfigError(f"search.random_share: expected a value in [0, 1], got {s.random_share}")
    if s.explore and c.ensemble < 2:
        raise ConfigError(
            f"search.explore: {s.explore} needs the spread of controller.ensemble >= 2 heads, "
            f"got {c.ensemble}"
        )
    _positive("search.mutations", s.mutations, zero_ok=True)
    _check_prior(cfg)
    if s.fan_in not in ("artifacts", "store"):
        raise ConfigError(f"search.fan_in: expected artifacts or store, got {s.fan_in!r}")
    if 0 < s.max_evaluations < s.initial_archs:
        raise ConfigError(
            f"search.max_evaluations: {s.max_evaluations} is below search.initial_archs ({s.initial_archs})"
        )
    ev = cfg.evaluator
    if ev.kind not in EVALUATORS:
        raise ConfigError(
            f"evaluator.kind: unknown evaluator {ev.kind!r} (expected one of: {', '.join(EVALUATORS)})"
        )
    if ev.kind == "train" and s.space not in TRAINER_SPACES:
        raise ConfigError(
            f"search.space: {s.space} has no child trainer for evaluator.kind train "
            f"({', '.join(TRAINER_SPACES)} have one); use evaluator.kind table or synthetic"
        )
    if ev.kind == "table" and not ev.table:
        raise ConfigError("evaluator.table: required for evaluator.kind table (a CSV file)")
    if ev.unavailable not in ("nearest", "skip"):
        raise ConfigError(
            f"evaluator.unavailable: expected nearest or skip, got {ev.unavailable!r}"
        )
    _positive("evaluator.synthetic_noise", ev.synthetic_noise, zero_ok=True)
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
    if c.rank_loss not in RANK_LOSSES:
        raise ConfigError(
            f"controller.rank_loss: expected one of {', '.join(RANK_LOSSES)}, got {c.rank_loss!r}"
        )
    if not 0.0 <= c.rank_weight <= 1.0:
        raise ConfigError(
            f"controller.rank_weight: expected a value in [0, 1], got {c.rank_weight}"
        )
    _positive("controller.rank_margin", c.rank_margin, zero_ok=True)
    _positive("controller.ensemble", c.ensemble)
    _positive("controller.pseudo_labels", c.pseudo_labels, zero_ok=True)
    _positive("controller.pseudo_epochs", c.pseudo_epochs, zero_ok=True)
    _positive("controller.pseudo_batch_size", c.pseudo_batch_size, zero_ok=True)
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
    _positive("child.retries", ch.retries, zero_ok=True)
    _positive("child.cpu_threads", ch.cpu_threads, zero_ok=True)
    _check_final(cfg)
    _check_supernet(cfg.supernet)
    if cfg.evaluator.kind == "supernet":
        _check_weight_sharing(cfg)
    _positive("cluster.gpu_count", cl.gpu_count, zero_ok=True)
    _positive("cluster.parallelism", cl.parallelism)
    _positive("cluster.retries", cl.retries, zero_ok=True)
    _positive("cluster.store_deadline_s", cl.store_deadline_s, zero_ok=True)
    _positive("cluster.store_retry_delay_s", cl.store_retry_delay_s)
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


def _check_prior(cfg: Config) -> None:
    s = cfg.search
    for i, ref in enumerate(s.prior):
        if not ref.strip():
            raise ConfigError(f"search.prior[{i}]: expected a pool file or s3://bucket/key, got ''")
        if ref.startswith("s3://") and not re.fullmatch(r"s3://[^/]+/.+", ref):
            raise ConfigError(f"search.prior[{i}]: {ref}: expected s3://bucket/key")
        if ref in s.prior[:i]:
            raise ConfigError(f"search.prior[{i}]: {ref} is listed twice")
    _positive("search.prior_seed", s.prior_seed, zero_ok=True)
    if s.prior_seed > s.initial_archs:
        raise ConfigError(
            f"search.prior_seed: {s.prior_seed} is more than search.initial_archs ({s.initial_archs})"
        )
    if s.prior_targets not in PRIOR_TARGETS:
        raise ConfigError(
            f"search.prior_targets: expected one of {', '.join(PRIOR_TARGETS)}, got {s.prior_targets!r}"
        )
    _positive("search.prior_weight", s.prior_weight, zero_ok=True)
    _positive("search.prior_half_life", s.prior_half_life, zero_ok=True)
    if s.prior and cfg.evaluator.kind == "supernet":
        raise ConfigError(
            "search.prior: NAO-WS scores with its own supernet; priors need another evaluator.kind"
        )


def _check_final(cfg: Config) -> None:
    f = cfg.final
    for key in ("rerank_top", "rerank_epochs", "layers", "channels", "epochs", "batch_size"):
        _positive(f"final.{key}", getattr(f, key))
    for key in ("weight_decay", "grad_clip", "aux_weight", "cutout", "train_subset"):
        _positive(f"final.{key}", getattr(f, key), zero_ok=True)
    if f.lr_max <= 0 or f.lr_min < 0 or f.lr_min > f.lr_max:
        raise ConfigError(
            f"final.lr_min: expected 0 <= lr_min <= lr_max, got {f.lr_min} and {f.lr_max}"
        )
    if not 0.0 <= f.drop_path < 1.0:
        raise ConfigError(f"final.drop_path: expected a probability in [0, 1), got {f.drop_path}")
    if not 0.0 <= f.dropout < 1.0:
        raise ConfigError(f"final.dropout: expected a probability in [0, 1), got {f.dropout}")
    if f.rerank_top > 1 and f.rerank_epochs > f.epochs:
        raise ConfigError(
            f"final.rerank_epochs: {f.rerank_epochs} is more than final.epochs ({f.epochs}); "
            "re-ranking is meant to be the short run"
        )
    total = TRAIN_IMAGES.get(cfg.child.dataset)
    if total is not None and cfg.child.dev_size + max(f.train_subset, 1) > total:
        raise ConfigError(
            f"final.train_subset: {f.train_subset} train images and child.dev_size "
            f"{cfg.child.dev_size} do not fit in {cfg.child.dataset}'s {total} training images"
        )
    if f.enabled and cfg.search.space not in FINAL_SPACES:
        raise ConfigError(
            f"final.enabled: the final training builds image networks ({', '.join(FINAL_SPACES)}), "
            f"not search.space {cfg.search.space!r}"
        )


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


def _check_weight_sharing(cfg: Config) -> None:
    """evaluator.kind supernet: the search's rounds follow the supernet schedule."""
    s, sn = cfg.search, cfg.supernet
    if s.space not in SUPERNET_SPACES:
        raise ConfigError(
            f"evaluator.kind: supernet needs search.space {' or '.join(SUPERNET_SPACES)}, got {s.space!r}"
        )
    rounds = -(-sn.epochs // sn.rounds_every)  # checked before the scoring epochs are listed
    if rounds > MAX_ROUNDS:
        raise ConfigError(
            f"supernet.epochs: {sn.epochs} epochs scored every {sn.rounds_every} "
            f"(supernet.rounds_every) are {rounds} rounds; expected at most {MAX_ROUNDS} (the "
            "pipeline unrolls its rounds at compile time)"
        )
    points = sn.schedule()
    if s.rounds != len(points):
        raise ConfigError(
            f"search.rounds: NAO-WS scores the pool at supernet epochs {', '.join(map(str, points))} "
            f"(supernet.epochs / supernet.rounds_every), so it has {len(points)} rounds; got {s.rounds}"
        )
    if s.shards != 1:
        raise ConfigError(
            f"search.shards: NAO-WS trains one supernet on one GPU; expected 1, got {s.shards}"
        )
    n_dev = sn.dev_batches * sn.eval_batch_size
    # (a language model scores on the corpus's validation text, checked when it is read)
    if cfg.child.dataset != "ptb" and n_dev > cfg.child.dev_size:
        raise ConfigError(
            f"supernet.dev_batches: {sn.dev_batches} batches of supernet.eval_batch_size "
            f"{sn.eval_batch_size} need {n_dev} dev images, but child.dev_size is "
            f"{cfg.child.dev_size}"
        )


def _space_size(name: str) -> int:
    """How many token sequences the space has: a bound on its distinct architectures."""
    from nao_kfp.spaces import get_space

    space = get_space(name)
    return math.prod(len(space.valid_tokens(p)) for p in range(space.seq_len))


def _unrolled(path: str, value: int, limit: int, what: str) -> None:
    if value > limit:
        raise ConfigError(
            f"{path}: expected at most {limit} (the pipeline unrolls its {what} at compile "
            f"time), got {value}"
        )


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
        value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else ""  # noqa: S506
    except _DuplicateKey as e:
        raise ConfigError(f"--set {text}: {str(e).split(': ', 1)[1]}") from None
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
        if p.is_dir():
            raise ConfigError(f"--config {name}: is a folder; expected a YAML file")
        if not p.is_file():
            raise ConfigError(f"--config {name}: no such file")
        return p
    candidate = PRESETS_DIR / f"{name}.yaml"
    if not candidate.exists() and p.is_dir():
        raise ConfigError(f"--config {name}: is a folder; expected a preset name or a YAML file")
    if not candidate.exists():
        names = sorted(x.stem for x in PRESETS_DIR.glob("*.yaml"))
        raise ConfigError(f"--config {name}: no such preset or file (presets: {', '.join(names)})")
    return candidate


def load_config(name: str | None = "demo", overrides: list[str] | None = None) -> Config:
    """Load a preset or YAML file, apply `a.b=value` overrides, check everything once."""
    data: dict[str, Any] = {}
    if name:
        data = read_yaml(preset_path(name))
    data = apply_overrides(data, overrides or [])
    return Config.from_dict(data)


class _DuplicateKey(Exception):
    pass


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in first:
                raise _DuplicateKey(f"{line}: {key}: given twice (first on line {first[key]})")
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping; every problem is one line starting with the file name."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as e:
        raise ConfigError(f"{path}:{e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({e.problem or e.context})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if loaded is None:
        raise ConfigError(
            f"{path}: empty; expected a mapping of config keys (search:, child:, ...)"
        )
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


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
