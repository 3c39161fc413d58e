"""The search's outcome, after its last round: three steps, each writing one file.

    select_best  the winner within the budget (the evaluator chooses: the best accuracy, or
                 NAO-WS's re-rank of the top few trained from scratch) -> selection.json
    final        (final.enabled) the winner trained at full size and exported -> the model
                 folder with final.json (final.py)
    conclude     result.json, the one place it is written: the selection, the history's
                 per-round records, the final training's outcome and the pool's statistics
                 (poolstats.py); `report` then renders it (report.md / report.html)

In the pipeline `conclude` and `report` are the last task (the report component), after the
final training, so result.json and both renderings of the report say the same.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from nao_kfp import progress
from nao_kfp.config import Config
from nao_kfp.evaluators import Evaluator, make_evaluator
from nao_kfp.fanin import store_for
from nao_kfp.final import FINAL_JSON, MODEL_DIR, final_train, read_final
from nao_kfp.jsontypes import Metrics
from nao_kfp.kinds import metric_for
from nao_kfp.pool import PoolEntry, evaluated, read_pool
from nao_kfp.poolstats import with_pool_stats
from nao_kfp.records import (
    Best,
    SearchResult,
    Selection,
    read_history,
    read_selection,
    write_record,
)
from nao_kfp.report import param_counter, run_info, write_report
from nao_kfp.results import FinalOutcome
from nao_kfp.spaces import get_space
from nao_kfp.steps import Log, SearchFailed


def ranked(pool: Sequence[PoolEntry]) -> list[PoolEntry]:
    """The evaluated entries, best accuracy first; ties broken by id (the larger first), so
    the order does not depend on the pool's."""
    return sorted(evaluated(pool), key=lambda e: (e.accuracy or 0.0, e.id), reverse=True)


def select_best(
    cfg: Config,
    pool_path: Path,
    out: Path,
    *,
    data_dir: Path | None = None,
    evaluator: Evaluator | None = None,
    log: Log | None = None,
) -> Selection:
    """selection.json: the best architecture within the budget (chosen by the evaluator: the
    best accuracy, or NAO-WS's re-rank of the top few) and its dev accuracy."""
    pool = read_pool(pool_path)
    ok = evaluated(pool)
    bad = [e for e in pool if e.status == "failed"]
    if not ok:
        why = f"; first error: {bad[0].error}" if bad else ""
        raise SearchFailed(
            f"search: no architecture was evaluated successfully ({len(bad)} failed{why})"
        )
    ev = evaluator or make_evaluator(cfg)
    accept = ev.budget()
    candidates = [e for e in ranked(ok) if accept is None or accept(e.arch)]
    if not candidates:
        raise SearchFailed(
            f"search: none of the {len(ok)} evaluated architectures is within the budget"
        )
    top, rerank = ev.select(candidates, data_dir=data_dir, log=log)
    params = top.extra.get("params")
    selection = Selection(
        best=Best(
            arch=top.arch_str,
            id=top.id,
            dev_accuracy=float(top.accuracy or 0.0),
            round=top.round,
            source=top.source,
            params=params if isinstance(params, int) else None,
            describe=ev.space.describe(top.arch),
            macs=top.integer("macs") if rerank else None,
            test_accuracy=top.number("test_accuracy") if rerank else None,
        ),
        evaluated=len(ok),
        failed=len(bad),
        rerank=rerank,
    )
    write_record(out, selection)
    return selection


def selection_metrics(cfg: Config, selection: Selection, pool_path: Path) -> Metrics:
    """select_best's Metrics: the counts, and the winner's dev accuracy, or the value its score
    stands for where the metric's value is not the score (metric.py)."""
    out: Metrics = {"evaluated": selection.evaluated, "failed": selection.failed}
    metric = metric_for(cfg)
    if metric.wants_vocab:
        metric = metric.with_vocab(read_pool(pool_path))
    if metric.kind.value is None:
        return {**out, "best_dev_accuracy": selection.best.dev_accuracy}
    return {**out, f"best_dev_{metric.name}": metric.value(selection.best.dev_accuracy)}


def final(
    cfg: Config, pool_path: Path, selection_path: Path, data_dir: Path | None, out_model: Path
) -> FinalOutcome:
    """Train the search's best architecture at full size (final.*): re-rank the top
    final.rerank_top by a short run, train the winner with the final recipe resuming per epoch
    from the store, export it (export.py) into out_model, final.json with it (final.py writes
    it; its paths are relative to the folder, so it holds as copied). The order is the
    selection's (its winner first), then the pool's by accuracy."""
    from nao_kfp.child.runtime import work_dir

    out_model = Path(out_model)
    done = read_final(out_model)
    if done is not None:  # finished before
        return done
    best = read_selection(selection_path).best
    order = ranked(read_pool(pool_path))
    order = [e for e in order if e.id == best.id] + [e for e in order if e.id != best.id]
    with work_dir() as tmp:
        final_train(
            cfg, [e.arch for e in order[: max(1, cfg.final.rerank_top)]], tmp,
            seed=cfg.search.seed, store=store_for(cfg), data_dir=data_dir, log=print,
        )  # fmt: skip
        out_model.mkdir(parents=True, exist_ok=True)
        # final.json last: a copy cut short leaves no final.json, so a re-run redoes the copy
        shutil.copytree(tmp / MODEL_DIR, out_model, dirs_exist_ok=True, ignore=_final_json)
        shutil.copy2(tmp / MODEL_DIR / FINAL_JSON, out_model / FINAL_JSON)
    done = read_final(out_model)
    assert done is not None
    progress.emit("final", test_accuracy=done.test_accuracy, params=done.params)
    return done


def _final_json(folder: str, names: list[str]) -> list[str]:
    return [FINAL_JSON] if FINAL_JSON in names else []


def conclude(
    cfg: Config,
    selection_path: Path,
    history_path: Path,
    pool_path: Path,
    out: Path,
    *,
    final_dir: Path | None = None,
) -> SearchResult:
    """result.json, written here and nowhere else: the selection (selection.json), the
    per-round records (the history), the final training's outcome (final_dir's final.json,
    when it has one) and what the pool adds (poolstats.with_pool_stats)."""
    selection = read_selection(selection_path)
    final_doc = None
    if final_dir is not None:
        final_doc = read_final(final_dir)
    result = SearchResult(
        name=cfg.name,
        space=get_space(cfg.search.space).name,
        evaluator=cfg.evaluator.kind,
        evaluated=selection.evaluated,
        failed=selection.failed,
        rounds=read_history(history_path).rounds,
        best=selection.best,
        final=final_doc,
        rerank=selection.rerank,
        metric=metric_for(cfg),  # its vocabulary, where it needs one, from the pool
    )
    result = with_pool_stats(result, read_pool(pool_path))
    write_record(out, result)
    return result


def report(
    cfg: Config,
    result: SearchResult,
    pool_path: Path,
    out_dir: Path,
    *,
    inline_markdown: Path | None = None,
) -> dict[str, Path]:
    """report.md / report.html with the plots and the best cells (report.py), rendered from
    conclude's result; inline_markdown: the same Markdown with its images embedded."""

    return write_report(
        result, read_pool(pool_path), Path(out_dir), count_params=param_counter(cfg),
        inline_markdown=inline_markdown, info=run_info(cfg, result),
    )  # fmt: skip
