"""The shape a pipeline is compiled with, and the check that a run's config keeps it.

KFP v2 unrolls the rounds and the shards at compile time, and the evaluator decides the tasks of
a round; a run whose `config` parameter (e.g. edited in the Kubeflow UI) changes one of these
fails in its first task (data, sample, sample-prior) with one line, not rounds later.
"""

from __future__ import annotations

import json
from typing import Any

from nao_kfp.config import Config
from nao_kfp.errors import ConfigError

# Settings that shape the compiled pipeline: a run whose config changes them must fail.
COMPILED_KEYS = ("search.rounds", "search.shards", "search.fan_in", "evaluator.kind")


def _get(cfg: Config, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def compiled_settings(cfg: Config) -> str:
    """The values of COMPILED_KEYS, as the pipeline fixes them at compile time."""
    return json.dumps({k: _get(cfg, k) for k in COMPILED_KEYS}, sort_keys=True)


def check_compiled(cfg: Config, compiled: str) -> None:
    """A run's config must not change what the pipeline was compiled with (its rounds, shards
    and evaluator are its shape); e.g. an edit of the `config` parameter in the Kubeflow UI."""
    if not compiled:
        return
    for key, value in json.loads(compiled).items():
        if _get(cfg, key) != value:
            raise ConfigError(
                f"config: {key} is {_get(cfg, key)!r} in this run's config but the pipeline was "
                f"compiled with {value!r}; recompile (nao compile / nao submit) to change it"
            )
