"""The one strict validation layer for configs and records: pydantic (v2, strict mode, unknown
keys forbidden, numbers finite) checks a JSON-like document against a stdlib dataclass and
builds it; the first error becomes our one line, `<where>.<key path>: expected ..., got ...`.

Strict mode builds a dataclass from a Python dict only through JSON, so documents go through
json.dumps (cheap: a config is a few hundred values). pydantic is imported on first use.

Before that, every JSON file and line the project reads goes through `read_text` and
`json_value`: a file past its size, a line past its length, a document nested past MAX_DEPTH or
a number past MAX_NUMBER characters is one line naming the file (and line), not a
RecursionError, Python's integer-digit limit or minutes of parsing.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from nao_kfp.errors import shorten, shown

if TYPE_CHECKING:
    from pydantic import TypeAdapter
    from pydantic_core import ErrorDetails

T = TypeVar("T")

# The limits of every JSON document we read. Our own files nest a few levels (a result's
# rounds, a record's extras); numbers are accuracies, counts and seeds.
MAX_DEPTH = 64
MAX_NUMBER = 100  # characters of one number literal
MiB = 1 << 20


def read_text(
    path: str | os.PathLike[str], where: str, error: type[Exception], max_bytes: int
) -> str:
    """A text file that must exist, be a regular file, hold at most max_bytes and be UTF-8."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{where}: no such file") from None
    except OSError as e:
        raise error(f"{where}: cannot read ({e.strerror or type(e).__name__})") from None
    if path.is_dir():
        raise error(f"{where}: is a folder; expected a file")
    if not path.is_file():
        raise error(f"{where}: not a regular file")
    if info.st_size > max_bytes:
        raise error(f"{where}: {info.st_size} bytes; expected at most {max_bytes}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise error(f"{where}: not UTF-8 text") from None
    except OSError as e:
        raise error(f"{where}: cannot read ({e.strerror or type(e).__name__})") from None


class _Limit(Exception):
    pass


def _number(kind: type[int] | type[float]) -> typing.Callable[[str], object]:
    def parse(text: str) -> object:
        if len(text) > MAX_NUMBER:
            raise _Limit(f"a number of {len(text)} characters; expected at most {MAX_NUMBER}")
        return kind(text)

    return parse


def json_value(text: str, where: str, error: type[Exception]) -> Any:
    """A JSON document within the limits (MAX_DEPTH, MAX_NUMBER); one line naming `where`."""
    try:
        value = json.loads(text, parse_int=_number(int), parse_float=_number(float))
    except json.JSONDecodeError as e:
        at = f"column {e.colno}" if e.lineno == 1 else f"line {e.lineno} column {e.colno}"
        msg = e.msg.removesuffix(" at")  # "Unterminated string starting at"
        raise error(f"{where}: not valid JSON ({msg} at {at})") from None
    except _Limit as e:
        raise error(f"{where}: {e}") from None
    except RecursionError:
        raise error(f"{where}: nested too deep; expected at most {MAX_DEPTH} levels") from None
    if _depth(value) > MAX_DEPTH:
        raise error(f"{where}: nested too deep; expected at most {MAX_DEPTH} levels")
    return value


def _depth(value: object) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend(
                    (v, depth + 1) for v in (node.values() if isinstance(node, dict) else node)
                )
    return deepest


def json_file(
    path: str | os.PathLike[str], where: str, error: type[Exception], max_bytes: int = 64 * MiB
) -> Any:
    """A JSON file, read within its size and the JSON limits."""
    return json_value(read_text(path, where, error, max_bytes), where, error)


class _Object:
    """pydantic's schema for an Unchecked field: any JSON object, passed on as it is."""

    def __get_pydantic_core_schema__(self, source: object, handler: object) -> object:
        from pydantic_core import core_schema

        return core_schema.dict_schema()


# A field checked as a JSON object only: open-ended metrics, settings and benchmark tables
# (which may hold NaN).
Unchecked = Annotated[T, _Object()]


@functools.cache
def _adapter(cls: type) -> TypeAdapter[Any]:
    from pydantic import ConfigDict, TypeAdapter, with_config

    with_config(ConfigDict(strict=True, extra="forbid", allow_inf_nan=False))(cls)
    return TypeAdapter(cls)


def _validate(cls: type[T], text: str) -> T:
    return typing.cast(T, _adapter(typing.cast(type, cls)).validate_json(text))


def config(cls: type[T], data: object, error: type[Exception], where: str = "") -> T:
    """A config (or the section `where`) from YAML or JSON data. As YAML is written by people,
    a string field takes a number (`cpu: 8`), a number field a string that reads as one (PyYAML
    1.1 reads `1e-3` as a string), and a value JSON has no type for (a YAML date) is its text."""
    from pydantic import ValidationError

    text = json.dumps(data, default=str)
    try:
        return _validate(cls, text)
    except ValidationError as e:
        errors = e.errors(include_url=False)
    doc = json.loads(text)
    if _relax(doc, errors):
        try:
            return _validate(cls, json.dumps(doc))
        except ValidationError as e:
            errors = e.errors(include_url=False)
    raise error(_message(cls, where, _first(doc, errors), config=True)) from None


# A record's field that its JSON leaves out while it is None (a key that "the run did not say"
# is absent, not null): field(default=None, metadata=OMIT_NONE).
OMIT_NONE = {"omit_none": True}


def dump(value: Any) -> Any:
    """A record as the JSON it is written as: dataclasses as objects (nested ones too), less
    their OMIT_NONE fields that are None; lists and objects copied."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is not None or not f.metadata.get("omit_none"):
                out[f.name] = dump(item)
        return out
    if isinstance(value, list):
        return [dump(v) for v in value]
    if isinstance(value, tuple):
        return tuple(dump(v) for v in value)
    if isinstance(value, dict):
        return {k: dump(v) for k, v in value.items()}
    return value


def record(cls: type[T], data: object, where: str, error: type[Exception]) -> T:
    """A record (history, result.json, ...) from JSON data; `where` names the file."""
    from pydantic import ValidationError

    try:
        text = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError) as e:  # a tensor, an integer past the digit limit, a cycle
        raise error(
            f"{where + ': ' if where else ''}holds a value JSON has no form for ({e})"
        ) from None
    try:
        return _validate(cls, text)
    except ValidationError as e:
        first = _first(data, e.errors(include_url=False))
        raise error(_message(cls, where, first, config=False)) from None


_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _relax(doc: Any, errors: list[ErrorDetails]) -> bool:
    """Convert in place what a config accepts beyond strict JSON; whether anything changed."""
    changed = False
    for e in errors:
        value = e["input"]
        if e["type"] == "float_type" and isinstance(value, str) and _NUMBER.match(value.strip()):
            fixed: object = float(value)
        elif e["type"] == "string_type" and type(value) in (int, float):
            fixed = str(value)
        else:
            continue
        node = doc
        for part in e["loc"][:-1]:
            node = node[part]
        node[e["loc"][-1]] = fixed
        changed = True
    return changed


def _first(doc: object, errors: list[ErrorDetails]) -> ErrorDetails:
    """The error that comes first in the document (pydantic goes by field order)."""

    def position(e: ErrorDetails) -> list[int]:
        node: Any = doc
        out = []
        for part in e["loc"]:
            if isinstance(node, dict):  # a missing key: after the keys given
                keys = list(node)
                out.append(keys.index(part) if part in node else len(keys))
                node = node.get(part)
            elif isinstance(node, list) and isinstance(part, int):
                out.append(part)
                node = node[part]
            else:
                out.append(0)
        return out

    return min(errors, key=position)


def _path(where: str, loc: tuple[int | str, ...]) -> str:
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    return where


def _show(value: object) -> str:

    return shown(value, 40)


_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_type": "true/false",
    "string_type": "a string",
    "list_type": "a list",
}


def _message(cls: type, where: str, e: ErrorDetails, config: bool) -> str:

    loc, kind, value = e["loc"], e["type"], e["input"]
    path = shorten(_path(where, loc), 120)
    if kind == "missing":
        parent = shorten(_path(where, loc[:-1]), 120)
        return f"{parent + ': ' if parent else ''}missing key {loc[-1]!r}"
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        if not config:
            return f"{path}: unknown key"
        names = _field_names(cls, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), names, n=1)
        hint = f"did you mean {close[0]}?" if close else f"expected one of: {', '.join(names)}"
        return f"{path}: unknown key ({hint})"
    if kind == "dataclass_type":
        if config:
            return f"{path}: expected a mapping of keys, got {type(value).__name__}"
        return f"{path}: expected an object, got {_show(value)}"
    if kind == "dict_type":
        return f"{path}: expected {'a mapping' if config else 'an object'}, got {_show(value)}"
    expected = _EXPECTED.get(kind) or e["msg"].removeprefix("Input should be ")
    return f"{path}: expected {expected}, got {_show(value)}"


def _field_names(cls: type, loc: tuple[int | str, ...]) -> list[str]:
    """The keys of the dataclass at loc (a config's sections nest dataclasses directly)."""
    for part in loc:
        cls = typing.get_type_hints(cls)[str(part)]
    return [f.name for f in dataclasses.fields(cls)]
