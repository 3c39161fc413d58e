"""cluster: where and how the pipeline runs on Kubeflow, with its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nao_kfp.config.keys import key
from nao_kfp.errors import ConfigError, shown

# The node label GKE puts on GPU nodes (cluster.accelerator_type is its value, e.g.
# nvidia-tesla-a100); other clusters select nodes with cluster.node_selector instead.
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how the pipeline runs on Kubeflow."""

    image: str = key(
        "ghcr.io/nao-kfp/nao-kfp:0.1.0",
        "The container image every task runs, with a pinned tag (no :latest).",
    )
    gpu_resource: str = key("nvidia.com/gpu", "The Kubernetes resource name of a GPU.")
    gpu_count: int = key(
        1, "GPUs per training task (0: CPU only).", min=0, max=64, why="more than one node holds"
    )
    accelerator_type: str = key(
        "",
        "e.g. nvidia-tesla-a100: sets the GKE accelerator node "
        "selector; other clusters use cluster.node_selector.",
    )
    node_selector: dict[str, str] = key(
        doc="Node labels the training tasks must run on.", factory=dict
    )
    tolerations: list[dict[str, str]] = key(
        doc="Kubernetes tolerations of the training tasks (key, operator, value, effect).",
        factory=list,
        max=100,
        why="a pod spec's worth",
    )
    parallelism: int = key(
        4,
        "Tasks the pipeline runs at once.",
        min=1,
        max=10_000,
        why="more pods than a cluster schedules",
    )
    retries: int = key(
        3, "Retries of a failed task.", min=0, max=100, why="each retry runs the task again"
    )
    retry_backoff: str = key("60s", "Wait before a task's retry (a Kubernetes duration).")
    cpu_request: str = key(
        "4",
        "CPU request of a training task and of the final model's InferenceService (whose "
        "nao serve runs this many threads, rounded up); e.g. 4, 0.5 or 500m.",
    )
    memory_request: str = key("16Gi", "Memory request of a training task.")
    pipeline_root: str = key(
        "",
        "Where KFP keeps the artifacts, e.g. minio://mlpipeline/nao; empty: the cluster's default.",
    )
    s3_endpoint: str = key(
        "",
        "host:port of the result and checkpoint store; empty: a local folder (cluster.store_dir).",
    )
    s3_bucket: str = key("nao", "The store's bucket.")
    s3_secret: str = key("nao-s3", "The Kubernetes secret holding S3_ACCESS_KEY and S3_SECRET_KEY.")
    s3_secure: bool = key(False, "Talk to the store over TLS.")
    store_dir: str = key("", "The local store folder when cluster.s3_endpoint is empty.")
    store_deadline_s: float = key(
        300.0,
        "A store that does not answer is retried with "
        "exponential backoff (from cluster.store_retry_delay_s, at "
        "most 30 s apart) until this many seconds; then the task "
        "fails.",
        min=0.0,
        max=7 * 86400.0,
        why="a week: a task would wait longer than any run",
    )
    store_retry_delay_s: float = key(
        1.0,
        "The first wait before retrying the store.",
        min=0.0,
        max=30.0,
        exclusive="min",
        why="retries are at most 30 s apart",
    )


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity in cores ('4' -> 4.0, '500m' -> 0.5); ConfigError naming
    cluster.cpu_request otherwise."""
    text = quantity.strip()
    try:
        cores = int(text[:-1]) / 1000 if text.endswith("m") else float(text)
    except ValueError:
        cores = math.nan
    if not cores > 0 or math.isinf(cores):
        raise ConfigError(
            f"cluster.cpu_request: expected a CPU quantity such as 4, 0.5 or 500m, got {quantity!r}"
        )
    return cores


def check_cluster(cl: ClusterConfig) -> None:
    cpu_cores(cl.cpu_request)
    if ":" not in cl.image.rsplit("/", 1)[-1] and "@" not in cl.image:
        raise ConfigError(
            f"cluster.image: {shown(cl.image)} has no tag; pin a version (no implicit :latest)"
        )
    if cl.image.endswith(":latest"):
        raise ConfigError(f"cluster.image: {shown(cl.image)} uses :latest; pin a version")
    for i, tol in enumerate(cl.tolerations):
        unknown = set(tol) - {"key", "operator", "value", "effect"}
        if unknown:
            raise ConfigError(
                f"cluster.tolerations[{i}].{sorted(unknown)[0]}: unknown key (expected key, operator, value, effect)"
            )
        if "key" not in tol and tol.get("operator") != "Exists":
            raise ConfigError(f"cluster.tolerations[{i}]: needs a key (or operator: Exists)")
