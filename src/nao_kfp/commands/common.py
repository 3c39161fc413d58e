"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import Any

from nao_kfp.config import Config, load_config
from nao_kfp.errors import ArchError
from nao_kfp.spaces import SPACES, SearchSpace, get_space


def add_config_args(p: argparse.ArgumentParser, default: str | None = "demo") -> None:
    p.add_argument("--config", default=default, help=f"preset name or YAML file (default: {default})")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override any config key, e.g. --set search.rounds=5 (repeatable)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def add_space_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--space", required=required, choices=list(SPACES), help="search space")


def add_arch_args(p: argparse.ArgumentParser) -> None:
    """ARCH (or --arch) plus --format native|official."""
    p.add_argument("--arch", required=True, help="architecture string (quote it)")
    p.add_argument("--format", choices=["native", "official"], default="native")


def parse_arch(space: SearchSpace[Any], text: str, fmt: str = "native") -> Any:
    if fmt == "official":
        if not hasattr(space, "parse_official"):
            raise ArchError(f"--format official: the {space.name} space has no official NAO form (nasnet and enas do)")
        return space.parse_official(text)
    return space.parse(text)


def space_arg(name: str) -> SearchSpace[Any]:
    return get_space(name)
