"""The types of JSON the search passes on without looking inside.

JSONValue is any JSON document (a pool line, a store object, a spec passed on as it is); Scalar
and Metrics are the flat numbers-and-words objects that steps, fits and rounds report. Records
with known keys have their own types (records.py, results.py).

JSONValue is a recursive alias spelled as a string: fine for mypy; a records.py dataclass field
that holds JSON is marked validate.Unchecked (pydantic checks it as an object only) and names
JSONValue itself, not JSONObject, so that the string resolves in the record's module, where
pydantic reads the annotation.
"""

from __future__ import annotations

from typing import TypeAlias

JSONValue: TypeAlias = "None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]"
JSONObject: TypeAlias = dict[str, JSONValue]
Scalar: TypeAlias = bool | int | float | str | None
Metrics: TypeAlias = dict[str, Scalar]
