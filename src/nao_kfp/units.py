"""How numbers read wherever a person sees them (progress lines, the summary table, the report,
`nao serve`): accuracies in percent, sizes with SI prefixes, durations in minutes and seconds.
The files (result.json, pool.jsonl, model.json) keep accuracies as fractions in [0, 1]."""

from __future__ import annotations


def pct(x: object, digits: int = 2) -> str:
    """0.91667 -> '91.67%'; None -> '-'."""
    return f"{100 * x:.{digits}f}%" if isinstance(x, (int, float)) else "-"


def points(x: float) -> str:
    """A difference of two accuracies in percentage points: 0.0123 -> '+1.23 points'."""
    return f"{100 * x:+.2f} points"


def si(n: float) -> str:
    """1234 -> 1.23k, 2.5e6 -> 2.50M."""
    x = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.0f}"


def duration(seconds: object) -> str:
    """65 -> '1m05s', 3700 -> '1h01m', 9 -> '9s'; None -> '-'."""
    if not isinstance(seconds, (int, float)):
        return "-"
    m, sec = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s" if m else f"{sec}s"
