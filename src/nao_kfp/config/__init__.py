"""Typed configuration: nested frozen dataclasses, loaded from YAML presets and checked once.

Every key is declared in its section's module (search.py, evaluator.py, controller.py,
child.py, final.py, supernet.py, cluster.py) with its type, its default, what it means and the
values it takes (keys.py: `key(...)`; `describe_keys()` lists them), and the checks across its
keys beside it; root.py holds the whole Config. Loading (loader.py) rejects unknown keys (with a
suggestion) and wrong types, naming the full key path (nao_kfp.validate), then checks every
key's limits and runs the checks across keys once, in the order checks.py gives.
"""

from nao_kfp.config.bounds import MAX_SEED
from nao_kfp.config.checks import NAME, check
from nao_kfp.config.child import DATASETS, TRAIN_IMAGES, ChildConfig, RnnChildConfig
from nao_kfp.config.cluster import ACCELERATOR_LABEL, ClusterConfig, cpu_cores
from nao_kfp.config.controller import RANK_LOSSES, ControllerConfig
from nao_kfp.config.evaluator import EVALUATORS, PROXIES, EvaluatorConfig
from nao_kfp.config.final import FinalConfig
from nao_kfp.config.keys import KeyDoc, key
from nao_kfp.config.loader import (
    PRESETS_DIR,
    apply_overrides,
    config_from_json,
    config_to_json,
    load_config,
    parse_override,
    preset_path,
    read_yaml,
)
from nao_kfp.config.root import Config, describe_keys
from nao_kfp.config.search import (
    FILLS,
    MAX_BEAM,
    MAX_ROUNDS,
    MAX_SHARDS,
    PRIOR_TARGETS,
    SELECTS,
    SearchConfig,
)
from nao_kfp.config.supernet import SUPERNET_BN, SupernetConfig

__all__ = [
    "ACCELERATOR_LABEL",
    "DATASETS",
    "EVALUATORS",
    "FILLS",
    "MAX_BEAM",
    "MAX_ROUNDS",
    "MAX_SEED",
    "MAX_SHARDS",
    "NAME",
    "PRESETS_DIR",
    "PRIOR_TARGETS",
    "PROXIES",
    "RANK_LOSSES",
    "SELECTS",
    "SUPERNET_BN",
    "TRAIN_IMAGES",
    "ChildConfig",
    "ClusterConfig",
    "Config",
    "ControllerConfig",
    "EvaluatorConfig",
    "FinalConfig",
    "KeyDoc",
    "RnnChildConfig",
    "SearchConfig",
    "SupernetConfig",
    "apply_overrides",
    "check",
    "config_from_json",
    "config_to_json",
    "cpu_cores",
    "describe_keys",
    "load_config",
    "parse_override",
    "key",
    "preset_path",
    "read_yaml",
]
