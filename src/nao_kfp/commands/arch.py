"""`nao arch`: show, convert and sample architectures of any search space."""

from __future__ import annotations

import argparse
import json
import math
import random

from nao_kfp.commands.common import (
    add_arch_args,
    add_space_arg,
    arch_texts,
    official_form,
    official_tokens,
    parse_arch,
)
from nao_kfp.errors import ArchError
from nao_kfp.pool import entry
from nao_kfp.spaces import Arch, SearchSpace, get_space

FORMATS = ["native", "official"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("arch", help="show, convert and sample architectures")
    arch_sub = p.add_subparsers(dest="arch_command", required=True, parser_class=type(p))

    show = arch_sub.add_parser(
        "show",
        help="print an architecture: native string, canonical id, official form, description",
        description="Line 1 is the native string, then `id: <canonical id>`, then (nasnet, "
        "enas) `official: <integers>`, then the human-readable description.",
    )
    add_arch_args(show)
    add_space_arg(show)
    show.add_argument("--json", action="store_true", help="print one JSON object per architecture")
    show.set_defaults(func=cmd_show)

    convert = arch_sub.add_parser(
        "convert",
        help="convert between the native string and the official NAO integer sequence",
    )
    convert.add_argument("arch", metavar="ARCH", help="the architecture (quote it); - reads stdin")
    add_space_arg(convert)
    convert.add_argument("--from", dest="src", choices=FORMATS, required=True)
    convert.add_argument("--to", dest="dst", choices=FORMATS, required=True)
    convert.set_defaults(func=cmd_convert)

    sample = arch_sub.add_parser(
        "sample", help="print N random architectures with distinct canonical ids as pool JSONL"
    )
    add_space_arg(sample)
    sample.add_argument("--count", type=int, required=True, help="how many architectures")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sample.set_defaults(func=cmd_sample)


def cmd_show(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    for i, text in enumerate(arch_texts(args.arch)):
        arch = parse_arch(space, text, args.format)
        if args.json:
            print(json.dumps(show_record(space, arch), sort_keys=True))
            continue
        if i:
            print()
        print(space.to_string(arch))
        print(f"id: {space.canonical_id(arch)}")
        official = official_tokens(space, arch)
        if official is not None:
            print("official: " + " ".join(map(str, official)))
        print(space.describe(arch))
    return 0


def show_record(space: SearchSpace[Arch], arch: Arch) -> dict[str, object]:
    rec: dict[str, object] = {
        "space": space.name,
        "arch": space.to_string(arch),
        "id": space.canonical_id(arch),
        "canonical": space.to_string(space.canonical(arch)),
        "tokens": space.encode(arch),
        "json": space.to_json(arch),
        "description": space.describe(arch),
    }
    official = official_tokens(space, arch)
    if official is not None:
        rec["official"] = official
    return rec


def cmd_convert(args: argparse.Namespace) -> int:
    space = get_space(args.space)
    if args.dst == "official":
        official_form(space, "--to")
    for text in arch_texts(args.arch):
        arch = parse_arch(space, text, args.src, what="--from")
        official = official_tokens(space, arch) if args.dst == "official" else None
        if official is not None:
            print(" ".join(map(str, official)))
        else:
            print(space.to_string(arch))
    return 0


def cmd_sample(args: argparse.Namespace) -> int:

    space = get_space(args.space)
    # The token space bounds the number of distinct networks (symmetries only shrink it).
    limit = math.prod(len(space.valid_tokens(p)) for p in range(space.seq_len))
    if not 0 < args.count <= limit:
        raise ArchError(
            f"--count: expected 1..{limit} for the {space.name} space, got {args.count}"
        )
    for arch in space.sample_unique(args.count, random.Random(args.seed)):
        rec = entry(space, arch, source="random", seed=args.seed).to_record()
        print(json.dumps(rec, sort_keys=True))
    return 0
