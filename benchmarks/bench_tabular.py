"""NAO vs random search vs regularized evolution on a NAS-Bench-201 table; prints the numbers.

    .venv/bin/python benchmarks/bench_tabular.py                       # the shared 725-cell sample
    .venv/bin/python benchmarks/bench_tabular.py --table T.csv --seeds 0-4 --json out.json

Reported: valid accuracy of the best-by-valid cell (the sample table has no test column), mean ±
std over seeds, at 50 / 100 / 200 queries, plus seconds per strategy. Development data only:
tests never read it.
"""

import argparse
import sys
import time
from pathlib import Path

from nao_kfp.commands.benchmark import benchmark_config
from nao_kfp.spaces import get_space
from nao_kfp.strategies import STRATEGIES, make_strategy
from nao_kfp.strategies.base import Strategy
from nao_kfp.strategies.runner import (
    format_summary,
    parse_int_list,
    parse_names,
    plot_results,
    run_benchmark,
    settings_of,
    write_results,
)
from nao_kfp.tabular import TabularEvaluator, read_table

DEFAULT_TABLE = (
    Path(__file__).resolve().parents[2] / "shared/data/nb201-sample/nb201_cifar10_sample725.csv"
)


class CpuTimed(Strategy):
    """A strategy that also records the process CPU seconds of each run: on a shared machine
    wall time mostly measures the neighbours, CPU time what the strategy costs on one core."""

    def __init__(self, inner: Strategy):
        self.inner, self.name, self.cpu = inner, inner.name, []
        self.cfg = getattr(inner, "cfg", None)  # settings_of reads it

    def search(self, ev: TabularEvaluator, seed: int) -> None:
        start = time.process_time()
        self.inner.search(ev, seed)
        self.cpu.append(time.process_time() - start)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    p.add_argument("--strategy", default="nao,random,evolution")
    p.add_argument("--queries", default="50,100,200")
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--config", default="nb201")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--json", type=Path, default=Path("/tmp/bench_tabular.json"))
    p.add_argument("--plot", type=Path, default=Path("/tmp/bench_tabular.png"))
    args = p.parse_args()
    start = time.perf_counter()
    space = get_space("nb201")
    table = read_table(args.table, space)
    cfg = benchmark_config(space.name, args.config, args.overrides, table=args.table)
    names = parse_names(args.strategy, "--strategy", STRATEGIES)
    strategies = {n: CpuTimed(make_strategy(n, cfg)) for n in names}
    doc = run_benchmark(
        table,
        strategies,
        parse_int_list(args.queries, "--queries", minimum=1),
        parse_int_list(args.seeds, "--seeds"),
        settings={n: settings_of(s) for n, s in strategies.items()},
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(format_summary(doc))
    write_results(args.json, doc)
    plot_results(doc, args.plot)
    print(f"wrote {args.json} and {args.plot}")
    print(f"table: {len(table)} rows, best valid {table.best().valid:.2f}")
    for name, seeds in (doc.seconds or {}).items():
        total, cpu = sum(seeds.values()), strategies[name].cpu
        print(
            f"{name}: {total:.1f} s wall over {len(seeds)} seeds ({total / len(seeds):.2f} s per "
            f"seed), {sum(cpu) / len(cpu):.2f} s CPU per seed (max {max(cpu):.2f})"
        )
    print(f"total {time.perf_counter() - start:.1f} s (2 shared CPU cores; timings are noisy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
