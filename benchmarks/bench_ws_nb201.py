"""The NAO-WS CPU preset on NAS-Bench-201, end to end: seeds, float paths and an ablation.

    .venv/bin/python benchmarks/bench_ws_nb201.py --data /tmp/cifar10-jpg [--seeds 0-4]
        [--paths native,default] [--variants preset,proxies] [--threads 1] [--sample-tau]
        [--config nao-ws-nb201-cpu] [--set KEY=VALUE ...] [--out runs/bench-ws-nb201]
        [--sample /work/shared/data/nb201-sample/nb201_cifar10_sample725.csv]
        [--dev /work/shared/data/nb201-dev]

Each (variant, seed, float path) is one search (`run_search`, the loop `nao search` runs) in
its own process, so that the float path is chosen before torch loads: `native` is this CPU's
own kernels, `default` sets ATEN_CPU_CAPABILITY=default (ATen's non-vector kernels; the
convolutions' oneDNN keeps its own). The two paths round differently from the first epoch on,
as two machines do. --threads sets child.cpu_threads (1 on a shared machine: a second thread
mostly spins there). Variants:
  preset    the config as it is: NAO on the supernet's accuracy and the proxies, the best few
            of the final pool re-ranked by a short training from scratch;
  proxies   NAO on the zero-cost proxies alone (evaluator.kind proxy, no supernet), with the
            supernet's CPU time spent on re-ranking more of its best (--proxies-rerank cells,
            supernet.rerank_epochs each).
From each preset run's final pool the script also reads what other selections would have
returned without the re-rank (the same pool, the same supernet): the best by the supernet's
accuracy alone, by the proxies alone and by both (the pool's score).

Every returned cell is looked up in the complete CIFAR-100 and ImageNet16-120 tables (--dev;
test accuracy after 200 epochs and its rank of 15,625: the complete CIFAR-10 table is not
here) and, when it is one of them, in the 725-cell CIFAR-10 sample (its valid accuracy).
--sample-tau also scores the sample's cells with each run's final supernet (about 3 CPU
minutes): Kendall tau against the sample's valid, alone and combined with the proxies.
A run's folder holds its result (bench.json); a rerun skips the runs that finished, and an
interrupted one takes the supernet's epochs and the re-ranked cells its store holds (it scores
the pools again). CPU seconds are the run process's own (user + system).
Development data only: tests never read it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SAMPLE = "/work/shared/data/nb201-sample/nb201_cifar10_sample725.csv"
DEV = "/work/shared/data/nb201-dev"
PATHS = {"native": {}, "default": {"ATEN_CPU_CAPABILITY": "default"}}
VARIANTS = ("preset", "proxies")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def variant_sets(variant: str, args: argparse.Namespace) -> list[str]:
    if variant == "preset":
        return []
    if variant == "proxies":  # the supernet's CPU time goes to re-ranking more cells instead
        from nao_kfp.config import load_config

        cfg = load_config(args.config, args.set)
        return [
            "evaluator.kind=proxy", "evaluator.proxies=[]",
            f"evaluator.rerank_top={args.proxies_rerank}",
            f"child.epochs={cfg.supernet.rerank_epochs}",
        ]  # fmt: skip
    raise SystemExit(f"--variants: unknown {variant!r} (expected some of {', '.join(VARIANTS)})")


# ---------------------------------------------------------------- one run, in its own process


def one(args: argparse.Namespace) -> None:
    import torch

    from nao_kfp.config import load_config
    from nao_kfp.kinds import KINDS
    from nao_kfp.loop import run_search
    from nao_kfp.outcome import ranked
    from nao_kfp.records import read_result
    from nao_kfp.validate import dump

    work = Path(args.work)
    sets = [f"child.data_dir={args.data}", f"search.seed={args.seed}",
            f"child.cpu_threads={args.threads}", f"cluster.store_dir={work / 'store'}",
            *args.set]  # fmt: skip
    cfg = load_config(args.config, sets)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pool = run_search(cfg, work / "search")
    wall = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    result = read_result(work / "search" / "result.json")
    assert result.best is not None
    order = ranked(pool)
    top = [
        {"arch": e.arch_str, "score": e.accuracy, "supernet": e.number("supernet_accuracy"),
         "proxies": e.extra.get("proxies")}
        for e in order
    ]  # fmt: skip
    out = {
        "seed": args.seed, "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": args.threads, "cpu_s": round(use.ru_utime + use.ru_stime, 1),
        "wall_s": round(wall, 1), "returned": result.best.arch,
        "rerank": [dump(r) for r in result.rerank],
        "pool": top,
    }  # fmt: skip
    if args.sample_tau and KINDS[cfg.evaluator.kind].shares_weights:
        out["sample"] = sample_scores(cfg, work / "search", args.sample)
    (work / "bench.json").write_text(json.dumps(out, indent=1) + "\n")


def sample_scores(cfg: Any, search: Path, sample_csv: str) -> dict[str, Any]:
    """The sample's cells scored with the run's final supernet, as the search scored its pool."""
    from scipy.stats import kendalltau

    from nao_kfp.child.params import search_spec
    from nao_kfp.child.proxies import ProxyScorer, norms_of
    from nao_kfp.child.supernet_train import load_split, score_archs
    from nao_kfp.spaces import get_space

    space = get_space("nb201")
    with open(sample_csv) as f:
        rows = [(space.parse(r["arch"]), float(r["valid"])) for r in csv.DictReader(f)]
    cells, valid = [a for a, _ in rows], [v for _, v in rows]
    supernet = max(search.glob("supernet-*"), key=lambda p: int(p.name.split("-")[1]))
    scores = score_archs(space, cfg, cells, load_split(cfg.child), supernet)
    out = {"supernet_tau": round(float(kendalltau(scores, valid).statistic), 4)}
    names = list(cfg.evaluator.proxies)
    if names:
        scorer = ProxyScorer(space, search_spec(cfg.child), names, seed=cfg.search.seed)
        # each column standardized over the sample and summed, as the search's score weighs them
        rows = [{"supernet": s, **scorer.raw(a)} for s, a in zip(scores, cells, strict=True)]
        norms = norms_of(rows, ["supernet", *names])
        both = [sum(norm.z(r[n]) for n, norm in norms.items()) for r in rows]
        out["combined_tau"] = round(float(kendalltau(both, valid).statistic), 4)
    return out


# ---------------------------------------------------------------- the grid and its tables


class Tables:
    """Test accuracy and rank (of 15,625) per cell in each complete table; the sample's valid."""

    def __init__(self, dev: Path, sample: str):
        self.test: dict[str, dict[str, float]] = {}
        for name in ("cifar100", "imagenet16"):
            with open(dev / f"nb201_{name}.csv") as f:
                self.test[name] = {r["arch"]: float(r["test"]) for r in csv.DictReader(f)}
        self.order = {n: sorted(t.values(), reverse=True) for n, t in self.test.items()}
        with open(sample) as f:
            self.valid = {r["arch"]: float(r["valid"]) for r in csv.DictReader(f)}

    def look(self, cell: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, test in self.test.items():
            out[name] = {"test": test[cell], "rank": self.order[name].index(test[cell]) + 1}
        out["cifar10_valid"] = self.valid.get(cell)
        return out


def selections(run: dict[str, Any]) -> dict[str, str]:
    """What each selection returns from the run's final pool."""
    pool = run["pool"]
    out = {"returned": run["returned"], "score": pool[0]["arch"]}
    if pool[0]["supernet"] is not None:
        out["supernet"] = max(pool, key=lambda e: e["supernet"])["arch"]
    if pool[0]["proxies"]:
        out["proxies"] = max(pool, key=lambda e: sum(e["proxies"].values()))["arch"]
    return out


def grid(args: argparse.Namespace) -> None:
    from nao_kfp.strategies.runner import parse_int_list

    tables = Tables(Path(args.dev), args.sample)
    rows = []
    for variant in args.variants.split(","):
        sets = variant_sets(variant, args)
        for seed in parse_int_list(args.seeds, "--seeds"):
            for path in args.paths.split(","):
                work = Path(args.out) / variant / f"seed{seed}-{path}"
                done = work / "bench.json"
                if not done.is_file():
                    log(f"{variant} seed {seed} {path}: searching in {work}")
                    cmd = [sys.executable, __file__, "one", "--work", str(work), "--seed",
                           str(seed), "--data", args.data, "--config", args.config,
                           "--threads", str(args.threads), "--sample", args.sample]  # fmt: skip
                    cmd += [a for s in [*args.set, *sets] for a in ("--set", s)]
                    cmd += ["--sample-tau"] if args.sample_tau else []
                    env = {**os.environ, **PATHS[path], "OMP_NUM_THREADS": str(args.threads)}
                    subprocess.run(cmd, env=env, check=True)
                run = json.loads(done.read_text())
                picks = {k: {"cell": c, **tables.look(c)} for k, c in selections(run).items()}
                row = {"variant": variant, "seed": seed, "path": path, "capability":
                       run["capability"], "cpu_s": run["cpu_s"], "wall_s": run["wall_s"],
                       "picks": picks, "rerank": run["rerank"], "sample": run.get("sample")}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    summary(rows)


def summary(rows: list[dict[str, Any]]) -> None:
    log("variant  seed path     pick      C100 test (rank)  IN16 test (rank)  C10 valid  CPU s")
    for r in rows:
        for k, p in r["picks"].items():
            c, i = p["cifar100"], p["imagenet16"]
            log(f"{r['variant']:<8} {r['seed']:>4} {r['path']:<8} {k:<9} "
                f"{c['test']:6.2f} ({c['rank']:>5})  {i['test']:6.2f} ({i['rank']:>5})  "
                f"{p['cifar10_valid'] or '':>9}  {r['cpu_s']:>6.0f}")  # fmt: skip
    log("mean over runs: variant/pick  C100 test  worst C100 rank  IN16 test  worst IN16 rank")
    keys = sorted({(r["variant"], k) for r in rows for k in r["picks"]})
    for variant, k in keys:
        ps = [r["picks"][k] for r in rows if r["variant"] == variant and k in r["picks"]]
        log(f"{variant}/{k:<9} {statistics.fmean(p['cifar100']['test'] for p in ps):6.2f} "
            f"{max(p['cifar100']['rank'] for p in ps):>6} "
            f"{statistics.fmean(p['imagenet16']['test'] for p in ps):6.2f} "
            f"{max(p['imagenet16']['rank'] for p in ps):>6}  ({len(ps)} runs)")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("mode", nargs="?", default="grid", choices=("grid", "one"))
    p.add_argument("--data", required=True, help="the CIFAR-10 JPEGs (or a staged folder)")
    p.add_argument("--config", default="nao-ws-nb201-cpu")
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE config overrides")
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--paths", default="native,default", help=f"of {', '.join(PATHS)}")
    p.add_argument("--variants", default="preset", help=f"of {', '.join(VARIANTS)}")
    p.add_argument(
        "--proxies-rerank", type=int, default=8, help="cells the proxies variant re-ranks"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sample-tau", action="store_true")
    p.add_argument("--sample", default=SAMPLE)
    p.add_argument("--dev", default=DEV)
    p.add_argument("--out", default="runs/bench-ws-nb201")
    p.add_argument("--work", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode == "one":
        one(args)
    else:
        grid(args)


if __name__ == "__main__":
    main()
