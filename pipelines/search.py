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

import inspect
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from kfp import compiler, dsl, kubernetes
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Model
from nao_kfp.components import (
    _base,
    data,
    decode,
    final,
    fit,
    merge,
    optimize,
    prior,
    report,
    sample,
    select,
    supernet,
    train,
)
from nao_kfp.pipelines.ir import dedup_components

from nao_kfp.compiled import Placement, compiled_settings, shape
from nao_kfp.config import ACCELERATOR_LABEL, Config, config_to_json
from nao_kfp.preflight import OutputError

S3_ENV = ("S3_ACCESS_KEY", "S3_SECRET_KEY")


def place_on_gpu(task: Any, cluster: Placement) -> Any:
    """Everything a train-children pod needs from Kubernetes, from the shape's placement (the
    config's cluster section): GPU request, the GPU taint's toleration, node selectors,
    resources, retries and the S3 secret (by name: its values are read from the cluster at run
    time, never compiled in)."""
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
    if cluster.s3_secret:
        kubernetes.use_secret_as_env(task, cluster.s3_secret, {k: k for k in S3_ENV})
    if cluster.retries:
        task.set_retry(num_retries=cluster.retries, backoff_duration=cluster.retry_backoff)
    return task


class Outputs(NamedTuple):
    """What the pipeline returns (kfp.local hands these paths to `nao search`): result.json,
    the pool, the report (inline Markdown, HTML, and report.md with its images as files)."""

    result: Dataset
    pool: Dataset
    markdown: Markdown
    html: HTML
    files: Artifact


class FinalOutputs(NamedTuple):
    """The same with the final model (final.enabled)."""

    result: Dataset
    pool: Dataset
    markdown: Markdown
    html: HTML
    files: Artifact
    model: Model


class Evaluated(NamedTuple):
    pool: Dataset
    history: Dataset


class Proposed(NamedTuple):
    """What NAO's controller hands to a round: the pool with its new architectures pending,
    and the model that proposed them."""

    pool: Dataset
    model: Model


def controller_tasks(
    comps: tuple[Any, Any, Any], config: Any, round_index: Any, pool: Any, history: Any, model: Any
) -> tuple[Any, Any]:
    """The controller's three tasks of a round (fit, optimize, decode), wired. Returns the fit
    and decode tasks."""
    fit_c, optimize_c, decode_c = comps
    fitted = fit_c(config=config, round_index=round_index, pool=pool, init_model=model)
    fitted.set_display_name("fit controller")
    emb = optimize_c(config=config, model=fitted.outputs["model"], pool=pool)
    emb.set_display_name("optimize embeddings")
    dec = decode_c(
        config=config, round_index=round_index, model=fitted.outputs["model"],
        embeddings=emb.outputs["embeddings"], pool=pool, history=history,
    ).set_display_name("decode new architectures")  # fmt: skip
    return fitted, dec


def prior_params(cfg: Config) -> list[str]:
    """The pipeline parameters naming the priors' URIs (prior_1, ...; defaults search.prior):
    how many priors is fixed at compile time (the shape), which ones a run (e.g. from the UI)
    names."""
    return [f"prior_{i}" for i in range(1, shape(cfg).priors + 1)]


def with_prior_params(func: Any, cfg: Config) -> Any:
    """`func(config, *priors)` with a signature KFP reads as `config` plus one string parameter
    per prior (KFP passes the pipeline's parameters positionally, in this order)."""
    config = inspect.signature(func).parameters["config"]
    extra = [
        inspect.Parameter(
            name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=uri, annotation=str
        )
        for name, uri in zip(prior_params(cfg), cfg.search.prior, strict=True)
    ]
    func.__signature__ = inspect.Signature(
        [config, *extra], return_annotation=inspect.signature(func).return_annotation
    )
    return func


def first_round_tasks(
    comps: tuple[Any, Any, Any], config: Any, compiled: str, priors: Sequence[Any]
) -> Any:
    """The task that makes round 1's pool, history and (empty) init model: sample, or with
    priors (search.prior) one importer per prior URI, gathered one after another (no
    dsl.Collected: KFP backends before 2.14 run it too), then sample-prior."""
    sample_c, gather_c, sample_prior_c = comps
    if not priors:
        first = sample_c(config=config, compiled=compiled)
        return first.set_display_name("sample initial architectures")
    gathered = None
    for i, uri in enumerate(priors):
        imported = dsl.importer(artifact_uri=uri, artifact_class=Dataset, reimport=False)
        imported.set_display_name(f"import prior {i + 1}")
        earlier = {} if gathered is None else {"earlier": gathered}
        task = gather_c(config=config, index=i, prior=imported.output, **earlier)
        gathered = task.set_display_name(f"check prior {i + 1}").outputs["gathered"]
    first = sample_prior_c(config=config, compiled=compiled, priors=gathered)
    return first.set_display_name("sample initial architectures (priors)")


def pipeline_name(cfg: Config) -> str:
    return "nao-search-" + (re.sub(r"[^a-z0-9-]+", "-", cfg.name.lower()).strip("-") or "run")


def build_pipeline(cfg: Config) -> Any:
    """The pipeline for this config: its rounds and shards fixed, the config its one parameter.

    Every choice here comes from the config's shape (compiled.py), which the first tasks check
    a run's config against. evaluator.kind decides what evaluates a round: search.shards
    parallel tasks and a merge, or (supernet, NAO-WS) one task that trains the supernet further
    and re-scores the pool, the supernet going from round to round as a Model artifact (and
    mirrored to the store). The selection is the evaluator's too (NAO-WS re-ranks its top
    few), so it gets the data and, for NAO-WS, the GPU. NAO's proposal for round r >= 2 is one
    sub-pipeline (`nao-round`: fit, optimize, decode) used L - 1 times; compile_pipeline writes
    its spec once (dedup_components), so the IR grows by a few tasks per round, not by a
    round's worth of components."""
    sh = shape(cfg)
    ws, cl = sh.shares_weights, sh.placement

    def on(comp: Any) -> Any:
        return _base.on_image(comp, cl.image)

    prepare_c, sample_c, train_c = (
        on(data.prepare_data),
        on(sample.sample),
        on(train.train_children),
    )
    merge_c, merge_store_c, fit_c = on(merge.merge), on(merge.merge_from_store), on(fit.fit)
    optimize_c, decode_c = on(optimize.optimize), on(decode.decode)
    select_c, report_c = on(select.select_best), on(report.report)
    final_c, supernet_c = on(final.final_train), on(supernet.supernet_round)
    gather_c, sample_prior_c = on(prior.gather_prior), on(prior.sample_prior)

    @dsl.pipeline(name="evaluate-round")
    def evaluate_round(
        config: str, round_index: int, pool: Input[Dataset], history: Input[Dataset],
        data: Input[Dataset], model: Input[Model],
    ) -> Evaluated:  # fmt: skip
        """Evaluate the pool's pending architectures in search.shards parallel tasks; merge
        (recording `model`'s fit, the one that proposed them, in the round's record)."""
        with dsl.ParallelFor(items=list(range(sh.shards)), parallelism=cl.parallelism) as shard:
            children = train_c(
                config=config, round_index=round_index, shard=shard, num_shards=sh.shards,
                pool=pool, data=data,
            )  # fmt: skip
            place_on_gpu(children.set_display_name("train children"), cl)
        if sh.fan_in == "store":  # after the whole loop; results come from the store
            merged = merge_store_c(
                config=config, round_index=round_index, pool=pool, history=history, model=model
            ).after(children)
            if cl.s3_secret:
                kubernetes.use_secret_as_env(merged, cl.s3_secret, {k: k for k in S3_ENV})
        else:
            merged = merge_c(
                config=config, round_index=round_index, pool=pool, history=history,
                results=dsl.Collected(children.outputs["results"]), model=model,
            )  # fmt: skip
        merged.set_display_name("merge results")
        return Evaluated(
            pool=merged.outputs["merged_pool"], history=merged.outputs["merged_history"]
        )

    def evaluate(
        config: Any,
        round_index: Any,
        pool: Any,
        history: Any,
        data: Any,
        net: Any,
        model: Any,
        name: str,
    ) -> tuple[Any, Any, Any]:
        """Round round_index's evaluation, as evaluator.kind makes it: (pool, history, the
        supernet or None); `model` is the fit that proposed the round's architectures."""
        if ws:
            t = supernet_c(
                config=config, round_index=round_index, pool=pool, history=history,
                supernet=net, model=model, data=data,
            )  # fmt: skip
            place_on_gpu(t.set_display_name(name), cl)
            return t.outputs["scored_pool"], t.outputs["new_history"], t.outputs["new_supernet"]
        ev = evaluate_round(
            config=config,
            round_index=round_index,
            pool=pool,
            history=history,
            data=data,
            model=model,
        ).set_display_name(name)
        return ev.outputs["pool"], ev.outputs["history"], None

    @dsl.pipeline(name="nao-round")
    def nao_round(
        config: str, round_index: int, pool: Input[Dataset], history: Input[Dataset],
        model: Input[Model],
    ) -> Proposed:  # fmt: skip
        """fit (warm start) -> optimize -> decode the next round's architectures."""
        fitted, dec = controller_tasks(
            (fit_c, optimize_c, decode_c), config, round_index, pool, history, model
        )
        return Proposed(pool=dec.outputs["new_pool"], model=fitted.outputs["model"])

    compiled = compiled_settings(cfg)
    Returns = FinalOutputs if sh.final else Outputs

    def nao_search(config: str = config_to_json(cfg), *priors: str) -> Returns:  # type: ignore[valid-type]
        """Neural Architecture Optimization (Luo et al. 2018, Algorithm 1; §3.4 for NAO-WS).

        prepare data; sample N random architectures (the pending set of round 1)
        round 1: evaluate them: train children (P parallel shards) and merge their dev
            accuracies into the pool, or (NAO-WS) train the supernet to its first scoring
            epoch and score the pool with the shared weights
        for round r = 2..L:
            NAO proposes (one `nao-round` each):
                fit: train encoder / predictor / decoder on the pool (warm start)
                optimize: move the top-K embeddings along the predictor's gradient
                decode: the new architectures, pending for round r
            round r: evaluate them (NAO-WS: train the supernet further, re-score the pool)
        select the best architecture (NAO-WS: re-rank the top few trained from scratch)
        (final.enabled) train the best at full size and export it
        write result.json and the report (after the final training: they include it)
        (search.prior) import and check each prior; round 1's pool takes the priors' best
        """
        staged = prepare_c(config=config, compiled=compiled).set_display_name("prepare data")
        first = first_round_tasks((sample_c, gather_c, sample_prior_c), config, compiled, priors)
        data_dir = staged.outputs["data"]
        model = first.outputs["model"]  # empty: round 1 has no controller (nor supernet) yet
        pool, history, net = evaluate(
            config, 1, first.outputs["pool"], first.outputs["history"], data_dir, model, model,
            "round 1",
        )  # fmt: skip
        for r in range(2, sh.rounds + 1):
            proposed = nao_round(
                config=config, round_index=r - 1, pool=pool, history=history, model=model
            ).set_display_name(f"NAO proposes round {r}")
            model = proposed.outputs["model"]
            pool, history, net = evaluate(
                config, r, proposed.outputs["pool"], history, data_dir, net, model, f"round {r}"
            )
        best = select_c(config=config, pool=pool, data=data_dir)
        best.set_display_name("select best architecture")
        if ws:  # its selection trains the top few from scratch
            place_on_gpu(best, cl)
        fin = None
        if sh.final:
            fin = final_c(
                config=config, pool=pool, selection=best.outputs["selection"], data=data_dir
            )
            place_on_gpu(fin.set_display_name("final training"), cl)
        trained = {} if fin is None else {"model": fin.outputs["model"]}
        rep = report_c(
            config=config, selection=best.outputs["selection"], history=history, pool=pool,
            **trained,
        )  # fmt: skip
        rep.set_display_name("result and report")
        outs = dict(
            result=rep.outputs["result"], pool=pool, markdown=rep.outputs["markdown"],
            html=rep.outputs["html"], files=rep.outputs["files"],
        )  # fmt: skip
        if fin is None:
            return Outputs(**outs)
        return FinalOutputs(**outs, model=fin.outputs["model"])

    return dsl.pipeline(name=pipeline_name(cfg))(with_prior_params(nao_search, cfg))


def compile_pipeline(cfg: Config, out: str | Path) -> Path:
    """Write the KFP IR YAML, each shared component once; the same config gives the same bytes."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(build_pipeline(cfg), str(raw))
        docs = list(yaml.safe_load_all(raw.read_text()))
    docs = dedup_components(docs)
    text = "\n---\n".join(yaml.safe_dump(d, sort_keys=True) for d in docs)
    tmp_out = out.with_name(f".{out.name}.tmp")
    try:
        tmp_out.write_text(text)
        tmp_out.replace(out)
    except OSError as e:
        tmp_out.unlink(missing_ok=True)
        raise OutputError(f"{out}: cannot write the pipeline ({e.strerror or e})") from None
    return out
