"""`nao pool check`: validate pool files (JSONL) and summarize them."""

from __future__ import annotations

import argparse

from nao_kfp.commands.common import path_arg
from nao_kfp.pool import STATUSES, evaluated, read_pool


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pool", help="check pool files")
    pool_sub = p.add_subparsers(dest="pool_command", required=True, parser_class=type(p))
    check = pool_sub.add_parser(
        "check",
        help="read pool files; print one summary line each, or the first malformed line",
    )
    check.add_argument("files", nargs="+", type=path_arg, metavar="FILE")
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    for path in args.files:
        entries = read_pool(path)
        counts = ", ".join(f"{s} {sum(e.status == s for e in entries)}" for s in STATUSES)
        line = f"{path}: {len(entries)} entries ({counts})"
        done = evaluated(entries)
        if done:
            best = max(done, key=lambda e: e.accuracy or 0.0)
            line += f", best {best.accuracy:.4f} {best.space} {best.id}"
        print(line)
    return 0
