"""The strict deserializer: a mapping into a config dataclass, rejecting unknown keys (with a
suggestion) and wrong types, naming the full key path."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from typing import Any

from nao_kfp.errors import ConfigError


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return {
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "bool": "true/false",
        }.get(tp.__name__, tp.__name__)
    origin = typing.get_origin(tp)
    if origin is dict:
        return "a mapping"
    if origin is list:
        return "a list"
    return str(tp)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping of keys, got {type(value).__name__}")
        return _build(tp, value, path + ".")  # type: ignore[arg-type]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {_show(value)}")
        _k, v_tp = typing.get_args(tp)
        return {str(k): _coerce(v_tp, v, f"{path}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_show(value)}")
        (e_tp,) = typing.get_args(tp)
        return [_coerce(e_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        raise TypeError("unions are not used in configs")
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{path}: expected a finite number, got {value}")
            return float(value)
        # YAML 1.1 (PyYAML) reads `1e-3` as a string; accept what anyone would call a number.
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{path}: expected {_type_name(tp)}, got {_show(value)}")


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        key = str(key)
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = (
                f" (did you mean {close[0]}?)"
                if close
                else f" (expected one of: {', '.join(names)})"
            )
            raise ConfigError(f"{prefix}{key}: unknown key{hint}")
        kwargs[key] = _coerce(hints[key], value, prefix + key)
    return cls(**kwargs)
