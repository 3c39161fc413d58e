"""The shape a pipeline is compiled with, and the check that a run's config keeps it.

KFP v2 unrolls the rounds and the shards at compile time, the evaluator decides the tasks of a
round, final.enabled and the priors add tasks, and the cluster settings become each task's
Kubernetes settings. `shape(cfg)` is all of that, computed once from the config: the pipeline
(pipelines/search.py) is built from it alone, and a run whose `config` parameter (e.g. edited in
the Kubeflow UI) changes it fails in its first task (data, sample, sample-prior) with one line,
not rounds later.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from nao_kfp.config import Config
from nao_kfp.errors import ConfigError
from nao_kfp.kinds import KINDS


@dataclass(frozen=True)
class Placement:
    """Where the training tasks run (cluster.*): what place_on_gpu and the KFP task settings
    compile in."""

    image: str
    gpu_resource: str
    gpu_count: int
    accelerator_type: str
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]
    parallelism: int
    retries: int
    retry_backoff: str
    cpu_request: str
    memory_request: str
    s3_secret: str  # the secret the tasks read the store's keys from; "" without an S3 store


@dataclass(frozen=True)
class Shape:
    """The compiled pipeline's tasks and their settings (each field names the config key it
    comes from in KEYS)."""

    rounds: int  # round tasks (NAO-WS: one per scoring point of its supernet schedule)
    shards: int  # evaluate tasks a round (one supernet task for NAO-WS)
    fan_in: str  # how the shards' results reach the merge
    evaluator: str  # evaluator.kind: which tasks evaluate a round
    final: bool  # the final training's task
    priors: int  # one importer and one check task per prior
    placement: Placement

    @property
    def shares_weights(self) -> bool:
        """NAO-WS: a round is one supernet task, not shards and a merge."""
        return KINDS[self.evaluator].shares_weights

    def settings(self) -> dict[str, object]:
        """The shape as the config keys it comes from (what compiled_settings writes)."""
        out: dict[str, object] = {KEYS[f]: getattr(self, f) for f in KEYS}
        out.update({f"cluster.{k}": v for k, v in dataclasses.asdict(self.placement).items()})
        return out


KEYS = {
    "rounds": "search.rounds",
    "shards": "search.shards",
    "fan_in": "search.fan_in",
    "evaluator": "evaluator.kind",
    "final": "final.enabled",
    "priors": "search.prior",
}


def shape(cfg: Config) -> Shape:
    """The pipeline's shape for this config."""
    s, cl = cfg.search, cfg.cluster
    ws = KINDS[cfg.evaluator.kind].shares_weights
    return Shape(
        rounds=s.rounds,
        shards=1 if ws else s.shards,
        fan_in=s.fan_in,
        evaluator=cfg.evaluator.kind,
        final=cfg.final.enabled,
        priors=len(s.prior),
        placement=Placement(
            image=cl.image,
            gpu_resource=cl.gpu_resource,
            gpu_count=cl.gpu_count,
            accelerator_type=cl.accelerator_type,
            node_selector=dict(cl.node_selector),
            tolerations=[dict(t) for t in cl.tolerations],
            parallelism=cl.parallelism,
            retries=cl.retries,
            retry_backoff=cl.retry_backoff,
            cpu_request=cl.cpu_request,
            memory_request=cl.memory_request,
            s3_secret=cl.s3_secret if cl.s3_endpoint else "",
        ),  # fmt: skip
    )


def compiled_settings(cfg: Config) -> str:
    """The shape as the pipeline fixes it at compile time (a pipeline parameter's default)."""
    return json.dumps(shape(cfg).settings())


def check_compiled(cfg: Config, compiled: str) -> None:
    """A run's config must not change what the pipeline was compiled with (its tasks and their
    settings); e.g. an edit of the `config` parameter in the Kubeflow UI."""
    if not compiled:
        return
    now = shape(cfg).settings()
    for key, value in json.loads(compiled).items():
        if now.get(key) != value:
            raise ConfigError(
                f"config: {key} is {now.get(key)!r} in this run's config but the pipeline was "
                f"compiled with {value!r}; recompile (nao compile / nao submit) to change it"
            )
