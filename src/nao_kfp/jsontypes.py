"""The types of JSON the search passes on without looking inside.

JSONValue is any JSON document (a pool entry's extra keys, a file read for a check); Scalar and
Metrics are the flat numbers-and-words objects that steps, fits and rounds report. Records with
known keys have their own types (records.py).
"""

from __future__ import annotations

from typing import TypeAlias

JSONValue: TypeAlias = "None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]"
JSONObject: TypeAlias = dict[str, JSONValue]
Scalar: TypeAlias = bool | int | float | str | None
Metrics: TypeAlias = dict[str, Scalar]
