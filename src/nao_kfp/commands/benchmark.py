"""`nao benchmark` (strategies on a tabular benchmark) and `nao reproduce` (the CI check)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nao_kfp import prior
from nao_kfp.commands.common import (
    add_config_args,
    add_space_arg,
    flag_overrides,
    path_arg,
    positive_int,
)
from nao_kfp.config import PRESETS_DIR, Config, load_config
from nao_kfp.numerics import guarantee
from nao_kfp.preflight import output_dir, output_file
from nao_kfp.spaces import get_space
from nao_kfp.strategies import (
    STRATEGIES,
    EvolutionConfig,
    NaoStart,
    default_strategies,
    make_strategy,
)
from nao_kfp.strategies.reproduce import REFERENCE_PATH
from nao_kfp.strategies.runner import (
    format_summary,
    parse_int_list,
    parse_names,
    plot_results,
    run_benchmark,
    settings_of,
    write_results,
)
from nao_kfp.tabular import read_table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "benchmark",
        help="compare search strategies on a tabular benchmark (CSV of arch,valid[,test,seconds])",
        description="Run every strategy with the same query budgets and seeds; print mean ± std over "
        "seeds of the reported accuracy (test if the table has it, else valid) of the best-by-valid "
        "architecture.",
    )
    add_space_arg(p)
    p.add_argument("--table", required=True, help="CSV with columns arch, valid[, test, seconds]")
    p.add_argument(
        "--strategy",
        default=None,
        help="comma-separated, of nao, evolution, random, evolution-unseeded, random-unseeded "
        "and params (default: all; the unseeded ones only when the config seeds NAO's first "
        "cells). evolution and random start from the cells NAO's config chooses without a "
        "query (search.proxy_seed, the priors' best), the -unseeded variants from random "
        "cells; params queries the biggest networks first",
    )
    p.add_argument("--queries", default="50,100,200", help="query budgets, e.g. 50,100,200")
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    p.add_argument("--json", dest="json_out", type=path_arg, help="write every per-seed value here")
    p.add_argument("--plot", type=path_arg, help="write a best-so-far vs queries plot (PNG)")
    p.add_argument(
        "--population", type=positive_int, default=None, help="evolution population size"
    )
    p.add_argument(
        "--tournament", type=positive_int, default=None, help="evolution tournament (sample) size"
    )
    p.add_argument(
        "--nao-unavailable",
        choices=("nearest", "skip"),
        default=None,
        help="NAO decodes a cell missing from the table: query its nearest unseen row "
        "(default) or skip it and keep decoding (the same as --set evaluator.unavailable=...)",
    )
    p.add_argument(
        "--prior",
        action="append",
        default=[],
        metavar="POOL.jsonl",
        help="a pool of an earlier search in this space (any data set; repeatable): NAO trains "
        "on it and takes search.prior_seed of its initial cells from its best (search.prior); "
        "evolution and random search start from those initial cells too",
    )
    p.add_argument("--quiet", action="store_true", help="no per-seed progress lines")
    add_config_args(p, default=None)
    p.set_defaults(func=cmd_benchmark)

    r = sub.add_parser(
        "reproduce",
        help="rerun the small reference benchmark as a KFP pipeline locally and compare",
        description="Runs pipelines/reproduce.py through kfp.local (SubprocessRunner) and fails on "
        "any difference from the committed reference JSON.",
    )
    r.add_argument(
        "--reference",
        type=path_arg,
        default=None,
        help="reference JSON (default: the committed one)",
    )
    r.add_argument(
        "--update-reference",
        action="store_true",
        help="write this run's results as the new reference instead of comparing (for a change "
        "of the algorithm; the reference holds on any x86-64 CPU)",
    )
    r.add_argument(
        "--pipeline-root",
        type=path_arg,
        default=None,
        help="kfp.local outputs (default: a temp dir)",
    )
    r.set_defaults(func=cmd_reproduce)


def benchmark_config(
    space: str, preset: str | None, overrides: list[str], table: str | Path = ""
) -> Config:
    """The named preset, else the space's own preset (configs/<space>.yaml) if there is one;
    the benchmark evaluates through the table."""
    if preset is None and (PRESETS_DIR / f"{space}.yaml").exists():
        preset = space
    flags: dict[str, tuple[str, object]] = {"search.space": ("--space", space)}
    if table:
        flags |= {"evaluator.kind": ("--table", "table"), "evaluator.table": ("--table", table)}
    return load_config(preset, [*overrides, *flag_overrides(overrides, flags)])


def cmd_benchmark(args: argparse.Namespace) -> int:

    for flag, path in (("--json", args.json_out), ("--plot", args.plot)):
        if path is not None:
            output_file(path, flag)
    names = (
        parse_names(args.strategy, "--strategy", STRATEGIES) if args.strategy is not None else []
    )
    budgets = parse_int_list(args.queries, "--queries", minimum=1)
    seeds = parse_int_list(args.seeds, "--seeds")
    space = get_space(args.space)
    table = read_table(args.table, space)
    flags = {
        "evaluator.unavailable": ("--nao-unavailable", args.nao_unavailable),
        "search.prior": (
            "--prior",
            json.dumps([str(p) for p in args.prior]) if args.prior else None,
        ),
    }
    overrides = [*args.overrides, *flag_overrides(args.overrides, flags)]
    cfg = benchmark_config(space.name, args.config, overrides, table=args.table)
    evo = EvolutionConfig()
    evo = EvolutionConfig(
        population=args.population or evo.population,
        tournament=args.tournament or evo.tournament,
        mutation_tries=evo.mutation_tries,
        max_steps=evo.max_steps,
    )
    for ref in cfg.search.prior:  # a bad prior file is one line naming --prior, before any run
        prior.read_prior(cfg, ref, "--prior")
    start = NaoStart(cfg)
    names = names or default_strategies(start)
    strategies = {n: make_strategy(n, cfg, evolution=evo, start=start) for n in names}
    settings = {n: settings_of(s) for n, s in strategies.items()}

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    doc = run_benchmark(table, strategies, budgets, seeds, settings=settings, log=log)
    print(format_summary(doc))
    if args.json_out:
        write_results(args.json_out, doc)
        print(f"wrote {args.json_out}")
    if args.plot:
        plot_results(doc, args.plot)
        print(f"wrote {args.plot}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from nao_kfp.pipelines.reproduce import run_local

    path = args.reference or REFERENCE_PATH

    if args.update_reference:
        output_file(path, "--reference")
    if args.pipeline_root is not None:
        output_dir(args.pipeline_root, "--pipeline-root")
    merged = run_local(path, update=args.update_reference, pipeline_root=args.pipeline_root)
    if args.update_reference:
        print(f"wrote {path}")
    else:
        runs = len(merged.runs)
        print(f"reproduce: {runs} results match {path}")
    made_on = merged.machine or {}
    print(f"reproduce: {guarantee(made_on.get('torch', '?'))}")
    if args.update_reference:
        print(
            f"reproduce: the new reference records this machine ({made_on.get('cpu')}); rewrite "
            "it for a change of the algorithm, never for a change of machine"
        )
    print(json.dumps({f"{s.strategy}@{s.budget}": round(s.mean, 2) for s in merged.summary}))
    return 0
