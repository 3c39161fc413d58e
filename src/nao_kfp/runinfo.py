"""What a run was (preset, space, data, evaluator, seed, when, versions) and the commands that
take its result further (export and serve the model it found, or train it at full size first).

The report shows both (report.py); `nao search` prints the commands at the end. Both come from
the run's config and its result.json, so they name this run's own paths.
"""

from __future__ import annotations

import platform
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp.evaluators.train import child_digest
from nao_kfp.kinds import kind_of
from nao_kfp.records import SearchResult
from nao_kfp.store.base import checkpoint_key

if TYPE_CHECKING:
    from nao_kfp.config import Config
    from nao_kfp.results import FinalOutcome

RUN_CONFIG = "config.json"  # pipelines/local.py writes the run's config under this name


def about(cfg: Config, when: float | None = None) -> list[tuple[str, str]]:
    """The run's metadata as (what, value) rows: preset, space, data, evaluator, the search's
    sizes, seed, when (UTC) and versions."""
    s, ch, ev = cfg.search, cfg.child, cfg.evaluator
    rows = [
        ("preset", cfg.name),
        ("search space", s.space),
        ("data", data_words(cfg)),
        ("evaluator", f"{ev.kind}: " + _evaluator_words(cfg)),
        (
            "search",
            f"{s.rounds} rounds: {s.initial_archs} initial architectures, then up to "
            f"{s.new_archs} new ones a round, proposed from the best {s.top_k} so far",
        ),
        ("seed", str(s.seed)),
        ("when", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))),
        ("versions", versions()),
    ]
    if kind_of(cfg).trains_children:
        rows.insert(4, ("device", ch.device))
    return rows


def _evaluator_words(cfg: Config) -> str:
    return kind_of(cfg).says.format(epochs=cfg.child.epochs, table=cfg.evaluator.table or "-")


def data_words(cfg: Config) -> str:
    ch, kind = cfg.child, kind_of(cfg)
    if kind.reads_table:
        return f"the table's architectures ({cfg.evaluator.table})"
    if not kind.needs:  # it scores the tokens alone
        return f"none ({kind.name} scores)"
    train = f"{ch.train_subset} training" if ch.train_subset else "all remaining training"
    unit = "words" if ch.dataset == "ptb" else "images"
    if ch.dataset == "ptb":
        return "ptb (Penn Treebank): its train, valid and test texts"
    return f"{ch.dataset}: {train} {unit}, {ch.dev_size} dev {unit} held out to rank them"


def versions() -> str:
    """nao-kfp, torch, kfp and Python versions of the process that writes the report."""
    parts = []
    for dist in ("nao-kfp", "torch", "kfp"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(parts + [f"Python {platform.python_version()}"])


def run_dir(cfg: Config) -> Path | None:
    """The run folder of a local run (`nao search --out DIR`: its store is DIR/store, beside
    DIR/config.json), else None."""
    store = cfg.cluster.store_dir
    if cfg.cluster.s3_endpoint or not store:
        return None
    folder = Path(store).parent
    return folder if Path(store).name == "store" and (folder / RUN_CONFIG).is_file() else None


def best_checkpoint(cfg: Config, result: SearchResult) -> str | None:
    """Where the best child's weights are: its checkpoint in the local store (a path, when the
    file is there) or in S3 (s3://BUCKET/KEY); None for evaluators that train no child."""
    best = result.best
    if best is None or not kind_of(cfg).trains_children:
        return None

    key = checkpoint_key(cfg.search.space, best.id, child_digest(cfg))
    if cfg.cluster.s3_endpoint:
        return f"s3://{cfg.cluster.s3_bucket}/{key}"
    if not cfg.cluster.store_dir:
        return None
    path = Path(cfg.cluster.store_dir) / key
    return str(path) if path.is_file() else None


def next_steps(
    cfg: Config,
    result: SearchResult,
    *,
    final: FinalOutcome | None = None,
    folder: Path | None = None,
) -> list[tuple[str, str]]:
    """(what it does, the command) for what to do with the result: serve the final model, or
    export and serve the best child and train it at full size. final: the final training's
    outcome where the caller has a better copy than result.json's (nao search: DIR/final);
    folder: the run folder (default: run_dir)."""
    final = final or result.final
    folder = folder or run_dir(cfg)
    if final and final.model_dir:
        steps = [("serve the final model (KServe's model server)", f"nao serve {final.model_dir}")]
        if final.inference_service and cfg.cluster.s3_endpoint:
            steps.append(
                (
                    "or run it on a cluster with KServe",
                    f"kubectl apply -f {final.inference_service}",
                )
            )
        return steps
    ckpt = best_checkpoint(cfg, result)
    if ckpt is None:
        return []
    model = (folder / "model") if folder else Path("model")
    s3 = f" --set cluster.s3_endpoint={cfg.cluster.s3_endpoint}" if ckpt.startswith("s3://") else ""
    creds = " (with S3_ACCESS_KEY and S3_SECRET_KEY set)" if s3 else ""
    steps = [
        (
            f"export the best child network{creds}: model.pt2 loads with torch alone",
            f"nao export --checkpoint {ckpt}{s3} --out {model}",
        ),
        ("serve it (KServe's model server: v2 and v1 protocols)", f"nao serve {model}"),
    ]
    if folder is not None and not cfg.final.enabled:
        steps.append(
            (
                "or first train the best architectures at full size (final.*), reusing every "
                "trained child",
                f"nao search --config {folder / RUN_CONFIG} --set final.enabled=true --out {folder}",
            )
        )
    return steps
