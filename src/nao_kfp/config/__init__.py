"""Typed configuration: nested frozen dataclasses, loaded from YAML presets and checked once.

Every key is declared in its section's module (search.py, evaluator.py, controller.py,
child.py, final.py, supernet.py, cluster.py) with its type, its default and its own checks;
root.py holds the whole Config. Loading (loader.py) rejects unknown keys (with a suggestion) and
wrong types, naming the full key path (nao_kfp.validate), then runs every check once, in the
order checks.py gives, beside the checks across sections.
"""

from nao_kfp.config.bounds import _positive, _unrolled
from nao_kfp.config.checks import (
    BUDGET_SPACES,
    FINAL_SPACES,
    NAME,
    PROXY_SPACES,
    SUPERNET_SPACES,
    TRAINER_SPACES,
    check,
)
from nao_kfp.config.child import DATASETS, TRAIN_IMAGES, ChildConfig, RnnChildConfig
from nao_kfp.config.cluster import ACCELERATOR_LABEL, ClusterConfig, cpu_cores
from nao_kfp.config.controller import RANK_LOSSES, ControllerConfig
from nao_kfp.config.evaluator import EVALUATORS, PROXIES, EvaluatorConfig
from nao_kfp.config.final import FinalConfig
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
from nao_kfp.config.root import Config
from nao_kfp.config.search import (
    FILLS,
    MAX_ROUNDS,
    MAX_SEED,
    MAX_SHARDS,
    PRIOR_TARGETS,
    SELECTS,
    SearchConfig,
)
from nao_kfp.config.supernet import SUPERNET_BN, SupernetConfig

__all__ = [
    "ACCELERATOR_LABEL",
    "BUDGET_SPACES",
    "DATASETS",
    "EVALUATORS",
    "FILLS",
    "FINAL_SPACES",
    "MAX_ROUNDS",
    "MAX_SEED",
    "MAX_SHARDS",
    "NAME",
    "PRESETS_DIR",
    "PRIOR_TARGETS",
    "PROXIES",
    "PROXY_SPACES",
    "RANK_LOSSES",
    "SELECTS",
    "SUPERNET_BN",
    "SUPERNET_SPACES",
    "TRAINER_SPACES",
    "TRAIN_IMAGES",
    "ChildConfig",
    "ClusterConfig",
    "Config",
    "ControllerConfig",
    "EvaluatorConfig",
    "FinalConfig",
    "RnnChildConfig",
    "SearchConfig",
    "SupernetConfig",
    "_positive",
    "_unrolled",
    "apply_overrides",
    "check",
    "config_from_json",
    "config_to_json",
    "cpu_cores",
    "load_config",
    "parse_override",
    "preset_path",
    "read_yaml",
]
