"""Ablation of the nb201 preset's search levers: each one switched off (or a rejected one
switched on) against the shipped recipe, on the same tables and seeds; prints the numbers.

    .venv/bin/python benchmarks/bench_nb201_levers.py --table C100.csv --table IN16.csv --seeds 0-9
    .venv/bin/python benchmarks/bench_nb201_levers.py --only recipe,no-semi --seeds 0-29

Reported per table: the test accuracy (valid if the table has no test column) of the
best-by-valid cell at each query budget, mean ± standard error over seeds, the mean best valid
reached, and NAO's process CPU seconds per seed (one thread; wall time on a shared machine
measures the neighbours). Each variant runs `nao benchmark`'s NAO strategy, i.e. the pipeline's
own loop, with the preset plus the variant's overrides. Development data only: tests never
read it.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench_tabular import CpuTimed  # this folder: the CPU-seconds wrapper of the tabular benchmark

from nao_kfp.commands.benchmark import benchmark_config
from nao_kfp.errors import NaoError
from nao_kfp.records import to_dict
from nao_kfp.spaces import get_space
from nao_kfp.strategies import make_strategy
from nao_kfp.strategies.runner import parse_int_list, parse_names, run_benchmark
from nao_kfp.tabular import read_table

# name -> the overrides on top of configs/nb201.yaml. "off": a lever of the recipe removed;
# "on": a lever the recipe does not use, added.
VARIANTS: dict[str, list[str]] = {
    "recipe": [],
    # the preset before issue 11 (the paper's loop: first decodings, no SemiNAS), for the
    # quality and the CPU time side by side
    "previous-preset": [
        "search.top_k=2",
        "search.new_archs=2",
        "search.select=first",
        "search.beam=1",
        "search.candidates=0",
        "search.eta=1.0",
        "search.eta_max=1000",
        "search.warm_epochs=10",
        "search.warm_pseudo_labels=0",
        "search.warm_pseudo_epochs=0",
        "controller.lr=0.003",
        "controller.pseudo_labels=0",
        "controller.pseudo_epochs=0",
        "search.proxy_seed=0",
    ],  # fmt: skip
    # off
    "select-first": ["search.select=first"],  # the paper: the first new decodings, growing eta
    "greedy-decoding": ["search.beam=1", "search.candidates=0"],
    "no-candidates-floor": ["search.candidates=0"],
    "no-semi": [
        "controller.pseudo_labels=0",
        "search.warm_pseudo_labels=0",
        "search.warm_pseudo_epochs=0",
    ],  # fmt: skip
    "no-warm-semi": ["search.warm_pseudo_labels=0", "search.warm_pseudo_epochs=0"],
    # the recipe before issue 20: ten random initial cells, none chosen by SynFlow + params
    "no-proxy-seed": ["search.proxy_seed=0"],
    "warm-10-epochs": ["search.warm_epochs=10"],
    # a warm fit of a fixed 2 steps on the evaluated cells (and its pseudo-label pass's 10 over
    # the fresh pseudo-labels alone): a round's fit then costs the same at 200 cells as at 10
    "warm-2-steps": ["search.warm_steps=2"],
    "top-2-seeds": ["search.top_k=2"],
    "new-4": ["search.new_archs=4"],
    # on
    "hinge-rank-loss": ["controller.rank_loss=hinge"],
    "listwise-rank-loss": ["controller.rank_loss=listwise"],
    "ensemble-5": ["controller.ensemble=5"],
    # the ensemble's spread as uncertainty: candidates ranked by mean + explore * std (UCB)
    "ucb-5-0.5": ["controller.ensemble=5", "search.explore=0.5"],
    "ucb-5-1": ["controller.ensemble=5", "search.explore=1.0"],
    "random-share-0.15": ["search.random_share=0.15"],
    "warm-predictor-only": ["search.warm_predictor_only=true"],
    "mutations-4": ["search.mutations=4"],  # on: 4 one-step mutations of each seed ranked too
    # half the initial cells from the proxies' best of 100, on a 3-cell, 16-channel network
    "proxy-seed-5-of-100": [
        "search.proxy_seed=5",
        "search.proxy_pool=100",
        "child.layers=3",
        "child.channels=16",
    ],  # fmt: skip
}
# With --prior (pools of searches on other tables): how the priors count. Each is the recipe
# plus these keys; "recipe" (no prior keys) is the search without the priors.
PRIOR_VARIANTS: dict[str, list[str]] = {
    "prior": [],  # the preset's prior keys: seed 5, quantile targets, weight 1, no decay
    "prior-seed-0": ["search.prior_seed=0"],  # the priors only in the fits
    "prior-seed-10": ["search.prior_seed=10"],
    "prior-fits-off": ["search.prior_weight=0"],  # the priors only in the initial population
    # how the fits count the priors, without the seeding (it reaches the best cells by 25
    # queries on both dev tables and so hides the rest)
    "prior-seed-0-zscore": ["search.prior_seed=0", "search.prior_targets=zscore"],
    "prior-seed-0-weight-0.3": ["search.prior_seed=0", "search.prior_weight=0.3"],
    "prior-seed-0-half-life-30": ["search.prior_seed=0", "search.prior_half_life=30"],
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", type=Path, action="append", required=True)
    p.add_argument("--queries", default="100,200")
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--only", default="", help="comma-separated variants (default: all)")
    p.add_argument("--config", default="nb201")
    p.add_argument(
        "--prior", action="append", default=[], help="a pool file: run the prior variants"
    )
    p.add_argument(
        "--json", type=Path, default=None, help="a folder: each variant and table's results doc"
    )
    args = p.parse_args()
    budgets = sorted(parse_int_list(args.queries, "--queries"))
    seeds = parse_int_list(args.seeds, "--seeds")
    variants = VARIANTS
    if args.prior:  # the priors' variants, each with search.prior set; "recipe" without them
        with_prior = [f"search.prior={json.dumps(args.prior)}"]
        variants = {k: with_prior + v for k, v in PRIOR_VARIANTS.items()}
        variants = {"recipe": [], **variants, "previous-preset": VARIANTS["previous-preset"]}
    names = parse_names(args.only, "--only", tuple(variants)) if args.only else list(variants)
    space = get_space("nb201")
    tables = [read_table(t, space) for t in args.table]
    print(f"seeds {args.seeds}; test % of the best-by-valid cell, mean ± standard error")
    for name in names:
        cfg = benchmark_config("nb201", args.config, variants[name])
        for path, table in zip(args.table, tables, strict=True):
            nao = CpuTimed(make_strategy("nao", cfg))
            doc = run_benchmark(table, {"nao": nao}, budgets, seeds)
            if args.json:  # per-seed results, for paired comparisons across runs
                out = args.json / f"{name}-{path.stem}.json"
                out.parent.mkdir(parents=True, exist_ok=True)
                # the results document plus each seed's CPU seconds (a key of this script's own)
                data = {**to_dict(doc), "cpu_seconds": {"nao": nao.cpu}}
                out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            cells = "  ".join(f"@{s.budget} {s.mean:6.2f} ± {s.sem:.2f}" for s in doc.summary)
            reached = " / ".join(
                f"{statistics.fmean(r.valid for r in doc.runs if r.budget == b):.2f}"
                for b in doc.budgets
            )
            print(
                f"{name:<20} {path.stem:<22} {cells}  valid {reached}  "
                f"{statistics.fmean(nao.cpu):5.1f} s CPU/seed",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NaoError as e:
        sys.exit(f"bench_nb201_levers: {e}")
