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


def _lr_range(section: str, lr_min: float, lr_max: float) -> None:
    """A cosine schedule's ends: 0 <= lr_min <= lr_max, lr_max > 0."""
    if lr_max <= 0 or lr_min < 0 or lr_min > lr_max:
        raise ConfigError(
            f"{section}.lr_min: expected 0 <= lr_min <= lr_max, got {lr_min} and {lr_max}"
        )


def _probability(path: str, value: float) -> None:
    """A drop probability: in [0, 1)."""
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{path}: expected a probability in [0, 1), got {value}")
