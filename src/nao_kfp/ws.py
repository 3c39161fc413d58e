"""NAO-WS (paper §3.4): the weight-sharing search's own steps. Its controller steps (fit,
optimize, decode) are steps.py's, with the same round policy.

    round r = 1..L, L = len(schedule(cfg)):
        supernet_round  train the shared weights to epoch schedule[r-1] on the pool's archs,
                        score every architecture of the pool with them, record the round
        (r < L) fit -> optimize -> decode: new archs join the pool
    rerank_select       retrain the best supernet.rerank_top from scratch for
                        supernet.rerank_epochs (the train evaluator: cached, resumable) and
                        keep the best of them
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

from nao_kfp import steps
from nao_kfp.config import Config
from nao_kfp.evaluators.supernet import CHECKPOINT, SupernetEvaluator
from nao_kfp.evaluators.train import TrainEvaluator
from nao_kfp.pool import evaluated, read_pool, write_pool
from nao_kfp.records import SearchResult, from_dict, to_dict, write_record


def schedule(cfg: Config) -> list[int]:
    """The supernet epoch at which each round scores the pool (30, 60, ..., 150 in the paper)."""
    sn = cfg.supernet
    points = list(range(sn.rounds_every, sn.epochs + 1, sn.rounds_every))
    return points if points and points[-1] == sn.epochs else [*points, sn.epochs]


def supernet_round(
    cfg: Config,
    round_index: int,
    pool_path: Path,
    history_path: Path,
    supernet_in: Path | None,
    data_dir: Path | None,
    out_pool: Path,
    out_history: Path,
    supernet_out: Path,
    *,
    log: steps.Log | None = None,
) -> dict[str, Any]:
    """Round r: train the supernet to schedule[r-1] on the pool, re-score the whole pool."""
    supernet_out = Path(supernet_out)
    supernet_out.mkdir(parents=True, exist_ok=True)
    if supernet_in is not None and (Path(supernet_in) / CHECKPOINT).is_file():
        shutil.copyfile(Path(supernet_in) / CHECKPOINT, supernet_out / CHECKPOINT)
    ev = SupernetEvaluator(cfg, supernet_out)
    pool = read_pool(pool_path)
    epochs_to = schedule(cfg)[round_index - 1]
    trained = ev.train_to(epochs_to, [e.arch for e in pool], data_dir=data_dir, log=log)
    scored = ev.evaluate(pool, data_dir=data_dir, round_index=round_index)
    for snap in supernet_out.glob("supernet-epoch*.pt"):  # the checkpoint holds the same weights
        snap.unlink()
    write_pool(out_pool, scored)
    last = trained["history"][-1] if trained.get("history") else {}
    summary = {"epoch": epochs_to, **{k: v for k, v in last.items() if k != "epoch"}}
    summary["seconds"] = trained.get("seconds")
    return steps.record_round(cfg, round_index, scored, history_path, out_history, supernet=summary)


def rerank_select(
    cfg: Config, pool_path: Path, history_path: Path, data_dir: Path | None, out: Path
) -> dict[str, Any]:
    """result.json: select_best's, with the best of the top supernet.rerank_top after a short
    training from scratch (their stand-alone dev accuracy decides, as in NAO-WS)."""
    result = steps.select_best(cfg, pool_path, history_path, out)
    top = sorted(evaluated(read_pool(pool_path)), key=lambda e: (-(e.accuracy or 0.0), e.id))
    top = top[: cfg.supernet.rerank_top]
    if len(top) < 2:
        return result
    short = cfg.replace(child=dataclasses.replace(cfg.child, epochs=cfg.supernet.rerank_epochs))
    retrained = TrainEvaluator(short).evaluate(
        [dataclasses.replace(e, extra={}) for e in top], data_dir=data_dir, log=print
    )
    rerank = [
        {"arch": e.arch_str, "id": e.id, "supernet_accuracy": e.accuracy,
         "dev_accuracy": r.accuracy, "status": r.status}
        for e, r in zip(top, retrained, strict=True)
    ]  # fmt: skip
    ok = [r for r in retrained if r.status == "ok"]
    if ok:
        win = max(ok, key=lambda e: (e.accuracy or 0.0, e.id))
        space = win.sp
        result["best"].update(
            arch=win.arch_str, id=win.id, dev_accuracy=win.accuracy, round=win.round,
            source=win.source, params=win.extra.get("params"), describe=space.describe(win.arch),
            macs=win.extra.get("macs"), test_accuracy=win.extra.get("test_accuracy"),
        )  # fmt: skip
    result["rerank"] = rerank
    record = from_dict(SearchResult, result, str(out))
    write_record(out, record)
    return to_dict(record)
