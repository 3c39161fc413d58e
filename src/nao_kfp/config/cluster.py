"""cluster: where and how the pipeline runs on Kubeflow, with its checks."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nao_kfp.config.bounds import _positive
from nao_kfp.errors import ConfigError

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
    _positive("cluster.gpu_count", cl.gpu_count, zero_ok=True)
    cpu_cores(cl.cpu_request)
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
