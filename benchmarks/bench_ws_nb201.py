"""The NAO-WS CPU preset on NAS-Bench-201, end to end, for several seeds (issue 19, part 3).

    .venv/bin/python benchmarks/bench_ws_nb201.py --data /tmp/cifar10-jpg [--seeds 0,1,2]
        [--config nao-ws-nb201-cpu] [--set KEY=VALUE ...] [--out runs/bench-ws-nb201]
        [--sample /work/shared/data/nb201-sample/nb201_cifar10_sample725.csv]
        [--dev /work/shared/data/nb201-dev]

Per seed: the search (`run_search`, the one loop `nao search` runs) on the CIFAR-10 JPEGs
(--data: the extracted shared tarball), its wall time, the returned cell's standard string;
then the final supernet scores the 725 cells of the CIFAR-10 sample (with the config's proxies
when it has them, as the search scored its pool): their Kendall tau against the sample's
`valid`, and the true ranks within the sample of the 5 cells it scores highest. Once, on the
same cells: the baselines' taus (params, SynFlow, SynFlow+params, on the child network) and the
returned cells' test accuracies and ranks in the complete CIFAR-100 and ImageNet16-120 tables
(--dev; the complete CIFAR-10 table is not here). A seed's work directory resumes.
Development data only: tests never read it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from scipy.stats import kendalltau

from nao_kfp.child.data import load_split
from nao_kfp.child.params import search_spec
from nao_kfp.child.proxies import ProxyScorer
from nao_kfp.child.supernet_train import score_archs
from nao_kfp.config import Config, load_config
from nao_kfp.loop import run_search
from nao_kfp.records import read_result
from nao_kfp.spaces import get_space

SAMPLE = "/work/shared/data/nb201-sample/nb201_cifar10_sample725.csv"
DEV = "/work/shared/data/nb201-dev"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def tau(a: list[float], b: list[float]) -> float:
    return round(float(kendalltau(a, b).statistic), 4)


def zsum(*columns: list[float]) -> list[float]:
    def z(v: list[float]) -> list[float]:
        m, sd = statistics.fmean(v), statistics.pstdev(v)
        return [(x - m) / sd if sd else 0.0 for x in v]

    return [sum(col) for col in zip(*(z(c) for c in columns), strict=True)]


def top5_ranks(scores: list[float], valid: list[float]) -> list[int]:
    truth = sorted(range(len(valid)), key=lambda i: -valid[i])
    return [truth.index(i) + 1 for i in sorted(range(len(scores)), key=lambda i: -scores[i])[:5]]


def dev_ranks(cells: list[str], dev: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("nb201_cifar100", "nb201_imagenet16"):
        path = dev / f"{name}.csv"
        if not path.is_file():
            continue
        with open(path) as f:
            test = {r["arch"]: float(r["test"]) for r in csv.DictReader(f)}
        order = sorted(test.values(), reverse=True)
        out[name] = [
            {"test": test[c], "rank": order.index(test[c]) + 1, "of": len(order)} for c in cells
        ]
    return out


def seed_run(cfg: Config, seed: int, out: Path, sample: list, valid: list) -> dict:
    cfg = cfg.replace(search=dataclasses.replace(cfg.search, seed=seed))
    work = out / f"seed-{seed}"
    t0 = time.perf_counter()
    run_search(cfg, work)
    seconds = time.perf_counter() - t0
    best = read_result(work / "result.json").best
    space = get_space("nb201")
    supernet = max(work.glob("supernet-*"), key=lambda p: int(p.name.split("-")[1]))
    scores_path = work / "sample-scores.json"
    if scores_path.is_file():
        scores = json.loads(scores_path.read_text())
    else:
        log(f"seed {seed}: scoring the {len(sample)} sample cells with {supernet.name}")
        scores = score_archs(space, cfg, sample, load_split(cfg.child), supernet)
        scores_path.write_text(json.dumps(scores))
    row: dict[str, Any] = {
        "seed": seed, "minutes": round(seconds / 60, 1), "cell": best.arch,
        "supernet_tau": tau(scores, valid), "supernet_top5_ranks": top5_ranks(scores, valid),
    }  # fmt: skip
    names = list(cfg.evaluator.proxies)
    if names:  # as the search scored: the supernet's z beside the proxies' z
        scorer = ProxyScorer(space, search_spec(cfg.child), names, reference=2)
        raw = [scorer.raw(a) for a in sample]
        combined = zsum(scores, *([r[n] for r in raw] for n in names))
        row["combined_tau"] = tau(combined, valid)
        row["combined_top5_ranks"] = top5_ranks(combined, valid)
    in_sample = {space.to_string(a): v for a, v in zip(sample, valid, strict=True)}
    row["cell_sample_valid"] = in_sample.get(best.arch)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="the extracted CIFAR-10 JPEGs")
    p.add_argument("--config", default="nao-ws-nb201-cpu")
    p.add_argument("--set", action="append", default=[], help="KEY=VALUE config overrides")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sample", default=SAMPLE)
    p.add_argument("--dev", default=DEV)
    p.add_argument("--out", default="runs/bench-ws-nb201")
    args = p.parse_args()
    cfg = load_config(args.config, [f"child.data_dir={args.data}", *args.set])
    space = get_space("nb201")
    with open(args.sample) as f:
        rows = [(space.parse(r["arch"]), float(r["valid"])) for r in csv.DictReader(f)]
    sample, valid = [a for a, _ in rows], [v for _, v in rows]
    scorer = ProxyScorer(space, search_spec(cfg.child), ["params", "synflow"], reference=2)
    raw = [scorer.raw(a) for a in sample]
    params, flow = [r["params"] for r in raw], [r["synflow"] for r in raw]
    baselines = {
        "params": tau(params, valid), "synflow": tau(flow, valid),
        "synflow+params": tau(zsum(flow, params), valid),
    }  # fmt: skip
    log(f"baselines on the {len(sample)} sample cells: {baselines}")
    out = Path(args.out)
    seeds = [seed_run(cfg, int(s), out, sample, valid) for s in args.seeds.split(",")]
    report = {
        "config": args.config, "overrides": args.set, "baselines_tau": baselines,
        "seeds": seeds, "dev_tables": dev_ranks([s["cell"] for s in seeds], Path(args.dev)),
    }  # fmt: skip
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
