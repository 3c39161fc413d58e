"""The search loop in-process: the pipeline's steps, in the pipeline's order, without KFP.

`run_search` calls the step functions of steps.py exactly as pipelines/search.py wires them
(sample, round 1's evaluation, then fit -> optimize -> decode -> evaluate per round, then
select_best, conclude), with files in a work directory. A round's evaluation is what the evaluator's kind
makes it in the pipeline: shards and a merge, or one supernet task (NAO-WS) whose supernet goes
from round to round. The tabular benchmark runs NAO through it, so a benchmark number is a
number about the pipeline's algorithm; a test checks that both give the same pool.
"""

from __future__ import annotations

import math
from pathlib import Path

from nao_kfp import outcome, steps, trace
from nao_kfp.config import Config
from nao_kfp.evaluators import Evaluator, make_evaluator
from nao_kfp.pool import PoolEntry, read_pool


def rounds_for_budget(cfg: Config, budget: int) -> int:
    """Rounds that spend `budget` evaluations: the initial sample, then new_archs a round."""
    s = cfg.search
    return 1 + max(0, math.ceil((budget - s.initial_archs) / s.new_archs))


def run_search(
    cfg: Config, work: Path, *, evaluator: Evaluator | None = None, data_dir: Path | None = None
) -> list[PoolEntry]:
    """Algorithm 1 for cfg.search.rounds rounds; returns the final pool (work/pool-L.jsonl) and
    leaves the selection in work/result.json."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    ev = evaluator or make_evaluator(cfg)
    if data_dir is None:
        prepared = steps.prepare_data(cfg, work / "data", evaluator=ev)
        data_dir = Path(prepared["data_dir"]) if "data_dir" in prepared else None
    pool, history = round_pool(work, 1), work / "history-0.json"
    model: Path | None = None
    if cfg.search.prior:  # round 1's init model carries the prior set (prior.py)
        model = work / "model-0"
        steps.sample_with_prior(cfg, pool, history, model, evaluator=ev)
    else:
        steps.sample(cfg, pool, history, evaluator=ev)
    pool, history = evaluate(cfg, 1, pool, history, model, data_dir, work, ev)
    for r in range(2, cfg.search.rounds + 1):
        prev = r - 1
        out_model = work / f"model-{prev}"
        with trace.step(f"round {prev} fit"):
            steps.fit(cfg, prev, pool, out_model, init_model=model)
        model = out_model
        with trace.step(f"round {prev} optimize"):
            steps.optimize(cfg, model, pool, work / f"embeddings-{prev}.pt")
        decoded = round_pool(work, r)
        with trace.step(f"round {prev} decode"):
            steps.decode(
                cfg, prev, model, work / f"embeddings-{prev}.pt", pool, history, decoded,
                evaluator=ev,
            )  # fmt: skip
        pool, history = evaluate(cfg, r, decoded, history, model, data_dir, work, ev)
    outcome.select_best(cfg, pool, work / "selection.json", data_dir=data_dir, evaluator=ev)
    outcome.conclude(cfg, work / "selection.json", history, pool, work / "result.json")
    return read_pool(pool)


def round_pool(work: Path, r: int) -> Path:
    """The pool round r evaluates, its architectures pending: the sample (r = 1), else the
    previous round's decode."""
    return work / ("pool-0.jsonl" if r == 1 else f"decoded-{r - 1}.jsonl")


def evaluate(
    cfg: Config,
    r: int,
    pool: Path,
    history: Path,
    model: Path | None,
    data_dir: Path | None,
    work: Path,
    ev: Evaluator,
) -> tuple[Path, Path]:
    """Round r's evaluation: the supernet task (the previous round's supernet in, this round's
    out), or the shards and the merge (the evaluate-round sub-pipeline); `model`: the fit that
    proposed the round's architectures (None in round 1 without priors)."""
    merged, merged_h = work / f"pool-{r}.jsonl", work / f"history-{r}.json"
    if steps.shares_weights(cfg):
        prev = work / f"supernet-{r - 1}" if r > 1 else None
        steps.supernet_round(
            cfg,
            r,
            pool,
            history,
            prev,
            data_dir,
            merged,
            merged_h,
            work / f"supernet-{r}",
            model=model,
        )
        return merged, merged_h
    shards = [work / f"round-{r}-shard-{i}.jsonl" for i in range(cfg.search.shards)]
    for i, out in enumerate(shards):
        steps.train_children(
            cfg, pool, i, cfg.search.shards, data_dir, out, round_index=r, evaluator=ev
        )
    steps.merge(cfg, r, pool, shards, history, merged, merged_h, model=model)
    return merged, merged_h
