"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from nao_kfp.config import MAX_SEED, Config, load_config, parse_override
from nao_kfp.errors import ArchError, ConfigError, shorten, shown
from nao_kfp.spaces import SPACES, Arch, CellArch, CellSpace, SearchSpace, get_space


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {shown(text)}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {shown(text)}")
    return value


def seed_int(text: str) -> int:
    """argparse type: a seed in the range search.seed allows."""

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {shown(text)}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected 0..{MAX_SEED}, got {shown(text)}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a number that is neither nan nor infinite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {shown(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {shown(text)}")
    return value


def path_arg(text: str) -> Path:
    """argparse type: a path, never '' (which Path reads as the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return Path(text)


def add_config_args(p: argparse.ArgumentParser, default: str | None = "demo") -> None:
    p.add_argument(
        "--config", default=default, help=f"preset name or YAML file (default: {default})"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set search.rounds=5 (repeatable)",
    )


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def flag_overrides(overrides: list[str], flags: dict[str, tuple[str, object]]) -> list[str]:
    """`--set` overrides for the config keys a command's flags set ({key: (flag, value)}; a
    value None: the flag was not given). A `--set` of the same key that says otherwise is an
    error naming both: neither silently wins."""

    given = {".".join(parse_override(o)[0]): (o, parse_override(o)[1]) for o in overrides}
    out = []
    for key, (flag, value) in flags.items():
        if value is None:
            continue
        if key in given and not _same(given[key][1], parse_override(f"{key}={value}")[1]):
            raise ConfigError(
                f"{flag} {shorten(str(value), 60)} and --set {shorten(given[key][0], 80)} "
                "disagree; give one of them"
            )
        out.append(f"{key}={value}")
    return out


def _same(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return str(a) == str(b)


def add_space_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--space", required=required, choices=list(SPACES), help="search space")


def add_arch_args(p: argparse.ArgumentParser) -> None:
    """ARCH (positional; `-` reads one architecture per line from stdin) and --format."""
    p.add_argument("arch", metavar="ARCH", help="the architecture (quote it); - reads stdin")
    p.add_argument(
        "--format",
        choices=["native", "official"],
        default="native",
        help="how ARCH is written: the space's native string or the official NAO integers",
    )


def arch_texts(text: str) -> list[str]:
    """ARCH as given, or for `-` every non-empty line of stdin."""
    if text != "-":
        return [text]
    lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
    if not lines:
        raise ArchError("ARCH: stdin is empty; expected one architecture per line")
    return lines


def parse_arch(
    space: SearchSpace[Arch], text: str, fmt: str = "native", what: str = "--format"
) -> Arch:
    if fmt == "official":
        return official_form(space, what).parse_official(text)
    return space.parse(text)


def official_form(space: SearchSpace[Arch], what: str) -> CellSpace:
    """The space itself when it has the official NAO integer form (nasnet and enas)."""
    if not isinstance(space, CellSpace):
        raise ArchError(
            f"{what} official: the {space.name} space has no official NAO form; "
            "expected nasnet or enas"
        )
    return space


def official_tokens(space: SearchSpace[Arch], arch: Arch) -> list[int] | None:
    """The official NAO integer form of `arch`, None where its space has none."""
    if isinstance(space, CellSpace) and isinstance(arch, CellArch):
        return space.to_official(arch)
    return None


def space_arg(name: str) -> SearchSpace[Arch]:
    return get_space(name)
