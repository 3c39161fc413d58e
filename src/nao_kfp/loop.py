"""The search loop in-process: the pipeline's steps, in the pipeline's order, without KFP.

`run_search` calls the step functions of steps.py exactly as pipelines/search.py wires them
(sample, round 1's evaluation, then fit -> optimize -> decode -> evaluate -> merge per round),
with files in a work directory. The tabular benchmark runs NAO through it, so a benchmark
number is a number about the pipeline's algorithm; a test checks that both give the same pool.
"""

from __future__ import annotations

import math
from pathlib import Path

from nao_kfp import steps
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
    """Algorithm 1 for cfg.search.rounds rounds; returns the final pool (work/pool-L.jsonl)."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    ev = evaluator or make_evaluator(cfg)
    if data_dir is None:
        prepared = steps.prepare_data(cfg, work / "data", evaluator=ev)
        data_dir = Path(prepared["data_dir"]) if "data_dir" in prepared else None
    pool, history = work / "pool-0.jsonl", work / "history-0.json"
    model: Path | None = None
    if cfg.search.prior:  # round 1's init model carries the prior set (prior.py)
        model = work / "model-0"
        steps.sample_with_prior(cfg, pool, history, model, evaluator=ev)
    else:
        steps.sample(cfg, pool, history, evaluator=ev)
    ws = cfg.evaluator.kind == "supernet"  # NAO-WS: the supernet scores the whole pool
    pool, history = (ws_round if ws else evaluate)(cfg, 1, pool, history, data_dir, work, ev)
    for r in range(2, cfg.search.rounds + 1):
        prev = r - 1
        out_model = work / f"model-{prev}"
        steps.fit(cfg, prev, pool, out_model, init_model=model)
        model = out_model
        steps.optimize(cfg, model, pool, work / f"embeddings-{prev}.pt")
        decoded, decoded_h = work / f"decoded-{prev}.jsonl", work / f"decoded-{prev}.json"
        steps.decode(
            cfg, prev, model, work / f"embeddings-{prev}.pt", pool, history, decoded, decoded_h,
            evaluator=ev,
        )  # fmt: skip
        pool, history = (ws_round if ws else evaluate)(
            cfg, r, decoded, decoded_h, data_dir, work, ev
        )
    if ws:
        from nao_kfp.ws import rerank_select

        rerank_select(cfg, pool, history, data_dir, work / "result.json")
    return read_pool(pool)


def ws_round(
    cfg: Config,
    r: int,
    pool: Path,
    history: Path,
    data_dir: Path | None,
    work: Path,
    ev: Evaluator,
) -> tuple[Path, Path]:
    """NAO-WS round r: train the supernet further and re-score the pool (ws.supernet_round)."""
    from nao_kfp.ws import supernet_round

    prev = work / f"supernet-{r - 1}" if r > 1 else None
    scored, scored_h = work / f"pool-{r}.jsonl", work / f"history-{r}.json"
    supernet_round(cfg, r, pool, history, prev, data_dir, scored, scored_h, work / f"supernet-{r}")
    return scored, scored_h


def evaluate(
    cfg: Config,
    r: int,
    pool: Path,
    history: Path,
    data_dir: Path | None,
    work: Path,
    ev: Evaluator,
) -> tuple[Path, Path]:
    """One round's shards, then merge (the evaluate-round sub-pipeline)."""
    shards = [work / f"round-{r}-shard-{i}.jsonl" for i in range(cfg.search.shards)]
    for i, out in enumerate(shards):
        steps.train_children(
            cfg, pool, i, cfg.search.shards, data_dir, out, round_index=r, evaluator=ev
        )
    merged, merged_h = work / f"pool-{r}.jsonl", work / f"history-{r}.json"
    steps.merge(cfg, r, pool, shards, history, merged, merged_h)
    return merged, merged_h
