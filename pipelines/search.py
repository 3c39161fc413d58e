"""The NAO search pipeline: L rounds unrolled at compile time (KFP v2 has no run-time loops).

`build_pipeline(cfg)` returns the pipeline function; the same function is compiled for Kubeflow
(`nao compile`) and run on this machine by kfp.local (`nao search`). kfp.local in kfp 2.17 runs
ParallelFor and dsl.Collected, so the local run is the cluster pipeline, shards and all; only
the Kubernetes settings (GPU, tolerations, secrets, retries) are ignored locally.

Early stop (search.early_stop) lives in the steps, not in dsl.If: after a round without
improvement, decode proposes nothing, so the later rounds' tasks find no pending architecture
and pass the pool through in seconds. Under dsl.If the final pool would come from one of several
branches, which select-best and report could only consume through dsl.OneOf.
"""

import builtins
import contextlib
import dataclasses
import re
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from kfp import compiler, dsl, kubernetes
from kfp.dsl import HTML, Dataset, Markdown
from nao_kfp.components import (
    _base,
    data,
    decode,
    fit,
    merge,
    optimize,
    report,
    sample,
    select,
    train,
)

from nao_kfp.config import ClusterConfig, Config, config_to_json
from nao_kfp.errors import NaoError
from nao_kfp.progress import ProgressFilter

# The node label GKE puts on GPU nodes (cluster.accelerator_type is its value, e.g.
# nvidia-tesla-a100); other clusters select nodes with cluster.node_selector instead.
ACCELERATOR_LABEL = "cloud.google.com/gke-accelerator"
S3_ENV = ("S3_ACCESS_KEY", "S3_SECRET_KEY")


def place_on_gpu(task: Any, cluster: ClusterConfig) -> Any:
    """Everything a train-children pod needs from Kubernetes, from config values only:
    GPU request, the GPU taint's toleration, node selectors, resources, retries and the S3
    secret (by name: its values are read from the cluster at run time, never compiled in)."""
    task.set_cpu_request(cluster.cpu_request).set_memory_request(cluster.memory_request)
    if cluster.gpu_count > 0:
        task.set_accelerator_type(cluster.gpu_resource).set_accelerator_limit(cluster.gpu_count)
        # GPU node pools are usually tainted with the GPU resource name
        kubernetes.add_toleration(
            task, key=cluster.gpu_resource, operator="Exists", effect="NoSchedule"
        )
        if cluster.accelerator_type:
            kubernetes.add_node_selector(task, ACCELERATOR_LABEL, cluster.accelerator_type)
    for tol in cluster.tolerations:
        kubernetes.add_toleration(
            task,
            key=tol.get("key"),
            operator=tol.get("operator", "Equal"),
            value=tol.get("value"),
            effect=tol.get("effect"),
        )
    for key, value in sorted(cluster.node_selector.items()):
        kubernetes.add_node_selector(task, key, value)
    if cluster.s3_endpoint:
        kubernetes.use_secret_as_env(task, cluster.s3_secret, {k: k for k in S3_ENV})
    if cluster.retries:
        task.set_retry(num_retries=cluster.retries, backoff_duration=cluster.retry_backoff)
    return task


class Outputs(NamedTuple):
    """What the pipeline returns (kfp.local hands these paths to `nao search`)."""

    result: Dataset
    pool: Dataset
    markdown: Markdown
    html: HTML


def pipeline_name(cfg: Config) -> str:
    return "nao-search-" + (re.sub(r"[^a-z0-9-]+", "-", cfg.name.lower()).strip("-") or "run")


def build_pipeline(cfg: Config) -> Any:
    """The pipeline for this config: its rounds and shards fixed, the config its one parameter."""
    s, cl = cfg.search, cfg.cluster
    img = cl.image

    def on(comp: Any) -> Any:
        return _base.on_image(comp, img)

    prepare_c, sample_c, train_c = (
        on(data.prepare_data),
        on(sample.sample),
        on(train.train_children),
    )
    merge_c, fit_c, fit_warm_c = on(merge.merge), on(fit.fit), on(fit.fit_warm)
    optimize_c, decode_c = on(optimize.optimize), on(decode.decode)
    select_c, report_c = on(select.select_best), on(report.report)

    @dsl.pipeline(name=pipeline_name(cfg))
    def nao_search(config: str = config_to_json(cfg)) -> Outputs:
        """Neural Architecture Optimization (Luo et al. 2018, Algorithm 1).

        prepare data; sample N random architectures (the pending set of round 1)
        for round r = 1..L:
            train children: evaluate the pending architectures, in P parallel shards
            merge: add their dev accuracies to the pool
            (r < L) fit: train encoder / predictor / decoder on the pool (warm start)
            (r < L) optimize: move the top-K embeddings along the predictor's gradient
            (r < L) decode: the new architectures, pending for round r + 1
        select the best architecture; write the report
        """
        staged = prepare_c(config=config).set_display_name("prepare data")
        first = sample_c(config=config).set_display_name("sample initial architectures")
        pool, history, model = first.outputs["pool"], first.outputs["history"], None
        for r in range(1, s.rounds + 1):
            with dsl.ParallelFor(items=list(range(s.shards)), parallelism=cl.parallelism) as shard:
                children = train_c(
                    config=config, round_index=r, shard=shard, num_shards=s.shards,
                    pool=pool, data=staged.outputs["data"],
                )  # fmt: skip
                place_on_gpu(children.set_display_name(f"round {r}: train children"), cl)
            merged = merge_c(
                config=config, round_index=r, pool=pool, history=history,
                results=dsl.Collected(children.outputs["results"]),
            ).set_display_name(f"round {r}: merge results")  # fmt: skip
            pool, history = merged.outputs["merged_pool"], merged.outputs["merged_history"]
            if r == s.rounds:
                break  # the last round's proposals would never be evaluated
            if model is None:
                fitted = fit_c(config=config, round_index=r, pool=pool)
            else:
                fitted = fit_warm_c(config=config, round_index=r, pool=pool, init_model=model)
            fitted.set_display_name(f"round {r}: fit controller")
            model = fitted.outputs["model"]
            emb = optimize_c(config=config, model=model, pool=pool)
            emb.set_display_name(f"round {r}: optimize embeddings")
            dec = decode_c(
                config=config, round_index=r, model=model, embeddings=emb.outputs["embeddings"],
                pool=pool, history=history,
            ).set_display_name(f"round {r}: decode new architectures")  # fmt: skip
            pool, history = dec.outputs["new_pool"], dec.outputs["new_history"]
        best = select_c(config=config, pool=pool, history=history)
        best.set_display_name("select best architecture")
        rep = report_c(config=config, result=best.outputs["result"], pool=pool)
        rep.set_display_name("report")
        return Outputs(
            result=best.outputs["result"],
            pool=pool,
            markdown=rep.outputs["markdown"],
            html=rep.outputs["html"],
        )

    return nao_search


def compile_pipeline(cfg: Config, out: str | Path) -> Path:
    """Write the KFP IR YAML; the same config always gives the same bytes."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(cfg), str(out))
    return out


def task_count(rounds: int, shards: int) -> int:
    """Tasks the pipeline runs: prepare + sample, per round P children + merge, three controller
    steps in every round but the last, then select + report."""
    return 2 + rounds * (shards + 1) + 3 * max(rounds - 1, 0) + 2


class SearchError(NaoError):
    """A task of the local search failed (its log is in DIR/kfp.log)."""


def local_config(cfg: Config, out_dir: Path) -> Config:
    """A local run keeps its result cache and child checkpoints under DIR/store (unless the
    config names an S3 store or another directory), so re-running into DIR resumes."""
    if cfg.cluster.s3_endpoint or cfg.cluster.store_dir:
        return cfg
    return cfg.replace(cluster=dataclasses.replace(cfg.cluster, store_dir=str(out_dir / "store")))


def run_local(cfg: Config, out_dir: Path, *, show: TextIO | None = None) -> dict[str, Any]:
    """Run the pipeline with kfp.local (SubprocessRunner, this Python) into out_dir.

    Task logs go to out_dir/kfp.log; progress lines go to `show` (stderr). Writes
    out_dir/result.json, pool.jsonl and report.md/html; returns the result."""
    from kfp import local

    from nao_kfp.pool import read_pool
    from nao_kfp.report import write_report
    from nao_kfp.steps import read_json

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = local_config(cfg, out_dir)
    (out_dir / "config.json").write_text(config_to_json(cfg) + "\n")
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(out_dir / "kfp"),
        raise_on_error=True,
    )
    log_path = out_dir / "kfp.log"
    with (
        log_path.open("a") as log,
        contextlib.redirect_stdout(ProgressFilter(log, show or sys.stderr)),
        warnings.catch_warnings(),
    ):
        # kfp.local warns, per task, that the image and the Kubernetes settings are ignored here
        warnings.filterwarnings("ignore", module=r"kfp\.local\.")
        original_print = builtins.print
        try:
            task = build_pipeline(cfg)()
        except RuntimeError as e:
            msg = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).splitlines()[0]
            raise SearchError(f"search: {msg} (task logs: {log_path})") from None
        finally:
            # kfp.local indents print() around each task by swapping builtins.print; tasks of a
            # ParallelFor swap it concurrently and can leave it indented for good
            builtins.print = original_print
    shutil.copyfile(task.outputs["result"].path, out_dir / "result.json")
    shutil.copyfile(task.outputs["pool"].path, out_dir / "pool.jsonl")
    result: dict[str, Any] = read_json(out_dir / "result.json")
    # report.md here links the plot and cell diagrams written beside it; report.html is the
    # self-contained page from the report task
    write_report(result, read_pool(out_dir / "pool.jsonl"), out_dir)
    shutil.copyfile(task.outputs["html"].path, out_dir / "report.html")
    return result
