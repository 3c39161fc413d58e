"""A tiny search config shared by the pipeline tests: seconds per child on digits, on CPU."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from nao_kfp.config import Config, load_config
from nao_kfp.pool import PoolEntry, entry
from nao_kfp.spaces import get_space

TINY = [
    "name=tiny",
    "search.space=enas",
    "search.rounds=2",
    "search.initial_archs=4",
    "search.top_k=2",
    "search.new_archs=2",
    "search.shards=1",
    "controller.embedding_size=8",
    "controller.hidden_size=16",
    "controller.mlp_hidden=16",
    "controller.epochs=20",
    "controller.batch_size=8",
    "child.dataset=digits",
    "child.dev_size=200",
    "child.train_subset=300",
    "child.layers=1",
    "child.channels=4",
    "child.epochs=1",
    "child.batch_size=64",
    "child.device=cpu",
    "child.amp=false",
    "child.cpu_threads=1",  # tiny convs on shared cores: more threads only spin
    "cluster.gpu_count=0",
]


def tiny_config(store_dir: Path | None = None, *overrides: str) -> Config:
    extra = [f"cluster.store_dir={store_dir}"] if store_dir else []
    return load_config(None, [*TINY, *extra, *overrides])


def synthetic_pool(cfg: Config, n: int, seed: int = 0, **extra: Any) -> list[PoolEntry]:
    """n evaluated architectures whose 'accuracy' is a smooth function of their ops (the share
    of one op), so a predictor has something to learn without training any child."""
    space = get_space(cfg.search.space)
    archs = space.sample_unique(n, random.Random(seed))
    out = []
    for a in archs:
        text = space.to_string(a)  # branches read op~input; no token layout needed
        acc = 0.5 + 0.4 * text.count("sep_conv") / text.count("~")
        out.append(entry(space, a, accuracy=acc, round=1, source="random", **extra))
    return out


CLI = "import sys; from nao_kfp.cli import main; sys.exit(main(sys.argv[1:]))"


def search_cli(cfg_path: Path, out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`nao search --config CFG --out OUT` as a real process in its own process group (a fault's
    SIGKILL takes the search and its tasks, not pytest)."""
    return subprocess.run(
        [sys.executable, "-c", CLI, "search", "--config", str(cfg_path), "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=600, start_new_session=True,
    )  # fmt: skip
