"""The number checks every section uses: one line naming the key and what was expected."""

from __future__ import annotations

from nao_kfp.errors import ConfigError


def _unrolled(path: str, value: int, limit: int, what: str) -> None:
    if value > limit:
        raise ConfigError(
            f"{path}: expected at most {limit} (the pipeline unrolls its {what} at compile "
            f"time), got {value}"
        )


def _positive(path: str, value: float, zero_ok: bool = False) -> None:
    if value < 0 or (value == 0 and not zero_ok):
        want = "a non-negative" if zero_ok else "a positive"
        raise ConfigError(f"{path}: expected {want} number, got {value}")
