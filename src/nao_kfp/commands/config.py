"""`nao config show`: the resolved configuration (preset + overrides), checked."""

from __future__ import annotations

import argparse
import json

import yaml

from nao_kfp.commands.common import add_config_args, config_from_args


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="print the resolved configuration")
    config_sub = p.add_subparsers(dest="config_command", required=True, parser_class=type(p))
    show = config_sub.add_parser(
        "show",
        help="load a preset or YAML file, apply --set overrides, check it, print every key",
    )
    add_config_args(show)
    show.add_argument("--json", action="store_true", help="print JSON (the pipeline's parameter)")
    show.set_defaults(func=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.json:
        print(json.dumps(cfg.to_dict(), sort_keys=True))
    else:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip())
    return 0
