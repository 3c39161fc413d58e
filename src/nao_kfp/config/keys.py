"""What each config key means and which values it takes, declared beside the key.

`key(default, doc, min=, max=, why=, choices=)` is a dataclass field whose metadata holds its
description and its limits; `check_keys` applies every key's limits once at load time (whether
or not another key switches its feature on), and `describe` lists them for the reference
docs. Checks that relate two keys stay beside their section.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nao_kfp.errors import ConfigError, shown

# min and max are inclusive; an `exclusive` end ("min" or "max") is a limit the value may only
# approach (a probability below 1, a step size above 0).
ENDS = ("", "min", "max")


def key(
    default: Any = dataclasses.MISSING,
    doc: str = "",
    *,
    min: float | None = None,  # noqa: A002 (the names the docs read)
    max: float | None = None,  # noqa: A002
    why: str = "",
    choices: tuple[str, ...] | None = None,
    exclusive: str = "",
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A config key: its default (or a `factory` for a list or mapping), what it means, and the
    values it takes. For a list, min and max bound its length and choices each item. `why`
    says why the maximum is where it is (shown when a value is above it)."""
    assert exclusive in ENDS, exclusive
    metadata = {
        "doc": doc,
        "min": min,
        "max": max,
        "why": why,
        "choices": choices,
        "exclusive": exclusive,
    }
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class KeyDoc:
    """One config key as the docs show it."""

    path: str  # search.rounds
    type: str  # int, float, bool, str, list[str], ...
    default: object
    doc: str
    min: float | None
    max: float | None
    why: str
    choices: tuple[str, ...] | None
    exclusive: str = ""


def describe(cls: type, prefix: str = "") -> typing.Iterator[KeyDoc]:
    """Every key of the section class `cls`, nested sections' keys included (root.py's
    describe_keys: the whole config's)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from describe(typing.cast(type, tp), f"{prefix}{f.name}.")
            continue
        m = f.metadata
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        yield KeyDoc(
            path=prefix + f.name,
            type=_type_name(tp),
            default=default,
            doc=m.get("doc", ""),
            min=m.get("min"),
            max=m.get("max"),
            why=m.get("why", ""),
            choices=m.get("choices"),
            exclusive=m.get("exclusive", ""),
        )


def _type_name(tp: object) -> str:
    args = typing.get_args(tp)
    if not args:
        return getattr(tp, "__name__", str(tp))
    origin = typing.get_origin(tp)
    return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"


def check_keys(section: object, prefix: str = "") -> None:
    """Each key's own limits (min, max, choices), in the order the keys are declared."""
    for f in dataclasses.fields(typing.cast(Any, section)):
        value = getattr(section, f.name)
        path = prefix + f.name
        if dataclasses.is_dataclass(value):
            check_keys(value, path + ".")
        else:
            _check_value(path, value, f.metadata)


def _check_value(path: str, value: object, m: typing.Mapping[str, Any]) -> None:
    choices = m.get("choices")
    if isinstance(value, list):
        _check_number(path, len(value), m, "items")
        if choices:
            for i, item in enumerate(value):
                _check_choice(f"{path}[{i}]", item, choices)
        return
    if choices:
        _check_choice(path, value, choices)
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(path, value, m)


def _check_choice(path: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{path}: expected one of {', '.join(choices)}, got {shown(value)}")


def _check_number(path: str, value: float, m: typing.Mapping[str, Any], unit: str = "") -> None:
    lo, hi, why, ends = m.get("min"), m.get("max"), m.get("why", ""), m.get("exclusive", "")
    unit = f" {unit}" if unit else ""
    got = f"{value}{unit}" if unit else shown(value)
    if lo is not None and (value < lo or (value == lo and ends == "min")):
        word = "above" if ends == "min" else "at least"
        raise ConfigError(f"{path}: expected {word} {lo}{unit}, got {got}")
    if hi is not None and (value > hi or (value == hi and ends == "max")):
        word = "below" if ends == "max" else "at most"
        reason = f" ({why})" if why else ""
        raise ConfigError(f"{path}: expected {word} {hi}{unit}{reason}, got {got}")
