"""`nao train-child` and `nao params`: train one child network; count a network's size."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import datetime, timezone

from nao_kfp.commands.common import (
    add_config_args,
    add_space_arg,
    flag_overrides,
    parse_arch,
    path_arg,
    seed_int,
)
from nao_kfp.config import load_config
from nao_kfp.config.bounds import MAX_DEPTH, MAX_WIDTH
from nao_kfp.errors import ArchError
from nao_kfp.preflight import check_data_dir, created_dir, output_dir
from nao_kfp.spaces import declaring, get_space

PARAM_DATASETS = ["cifar10", "cifar100", "imagenet", "digits"]


def _add_arch(p: argparse.ArgumentParser) -> None:
    add_space_arg(p)
    p.add_argument("--arch", required=True, help="the architecture (quote it)")
    p.add_argument(
        "--format", choices=["native", "official"], default="native",
        help="how --arch is written: the space's native string or the official NAO integers",
    )  # fmt: skip


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train-child",
        help="train one child network and print its result as a JSON line",
        description="Trains the child of ARCH with the config's child section; checkpoints every "
        "epoch in --out and resumes from there. Progress goes to stderr.",
    )
    _add_arch(p)
    add_config_args(p)
    p.add_argument(
        "--out", required=True, type=path_arg, help="output folder (checkpoint, result.json)"
    )
    p.add_argument(
        "--seed", type=seed_int, default=None, help="training seed (default: search.seed)"
    )
    p.add_argument(
        "--katib", action="store_true",
        help="a Katib trial: also print each epoch's numbers and then the result's as "
        "name=value lines on stdout (what Katib's StdOut metrics collector reads; the score "
        "is dev_accuracy)",
    )  # fmt: skip
    p.set_defaults(func=cmd_train_child)

    q = sub.add_parser(
        "params",
        help="count parameters and multiply-adds of a CNN child network",
        description="Prints a JSON line with params, params_without_aux (the papers' convention) "
        "and macs (multiply-adds of one image's forward pass).",
    )
    _add_arch(q)
    q.add_argument("--layers", type=int, required=True, help="N cells per stage")
    q.add_argument("--channels", type=int, required=True, help="F, the first stage's channels")
    q.add_argument("--dataset", choices=PARAM_DATASETS, default="cifar10")
    q.set_defaults(func=cmd_params)


def cmd_train_child(args: argparse.Namespace) -> int:
    from nao_kfp.child.runtime import CHECKPOINT, RESULT

    space = get_space(args.space)
    arch = parse_arch(space, args.arch, args.format)
    flags = {"search.space": ("--space", space.name), "search.seed": ("--seed", args.seed)}
    cfg = load_config(args.config, [*args.overrides, *flag_overrides(args.overrides, flags)])
    output_dir(args.out, "--out", files=(CHECKPOINT, RESULT))
    check_data_dir(cfg.child)
    from nao_kfp.child import train_child

    seed = cfg.search.seed if args.seed is None else args.seed
    with created_dir(args.out):  # a data set that fails to load leaves no empty --out
        result = train_child(
            space,
            arch,
            cfg.child,
            args.out,
            seed=seed,
            on_epoch=metric_lines if args.katib else None,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    if args.katib:
        metric_lines(result.to_json())
    print(json.dumps(result.to_json(), sort_keys=True))
    return 0


def metric_lines(values: Mapping[str, object]) -> None:
    """The numbers of a record as `name=value` lines, the format Katib's StdOut metrics
    collector reads (its default filter: a name, `=`, a number), each after an RFC 3339 time:
    the collector orders a metric's values by it (the objective's latest value is the last)."""
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    for name, value in values.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            print(f"{now} {name}={value!r}", flush=True)


def cmd_params(args: argparse.Namespace) -> int:
    from nao_kfp.child import count_params

    space = get_space(args.space)
    if not space.budgets:
        raise ArchError(
            f"--space: {space.name} has no CNN child to count; expected "
            f"{' or '.join(declaring('budgets'))}"
        )
    if args.layers < 1 or args.channels < 2:
        raise ArchError("--layers/--channels: expected at least 1 layer and 2 channels")
    # the network is built (on the meta device) module by module: a size past the child
    # config's own ceilings takes minutes
    for flag, value, most in (
        ("--layers", args.layers, MAX_DEPTH),
        ("--channels", args.channels, MAX_WIDTH),
    ):
        if value > most:
            raise ArchError(f"{flag}: expected at most {most}, got {value}")
    arch = parse_arch(space, args.arch, args.format)
    counts = count_params(
        space, arch, layers=args.layers, channels=args.channels, dataset=args.dataset
    )
    print(json.dumps(counts, sort_keys=True))
    return 0
