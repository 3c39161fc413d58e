"""The report's two plots: accuracy by round (the paper's Fig. 2b: the predictor's mean
prediction for each round's new architectures beside their real mean), and every evaluated
architecture's accuracy against its size with the Pareto front and the best marked."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nao_kfp.metric import ACCURACY, Metric
from nao_kfp.pool import PoolEntry
from nao_kfp.records import RoundRecord
from nao_kfp.spaces import Arch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# ---------------------------------------------------------------- the plot


def _png(fig: Figure) -> bytes:
    """A finished matplotlib figure as PNG bytes (the figure is closed)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


PROPOSED = ("nao", "nao-nearest", "mutation")  # findings.PROPOSED: chosen by NAO


def accuracy_figure(
    rounds: Sequence[RoundRecord], pool: Sequence[PoolEntry] = (), metric: Metric = ACCURACY
) -> Figure:
    """Every evaluated architecture by round (NAO's proposals apart from the others), the mean
    of round 1's architectures as a baseline, the mean of each round's proposals beside what the
    predictor expected of them (the paper's Fig. 2b), and the best so far. Each series has its
    own marker and colour, and the legend sits outside the axes, so no entry hides another."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a pod or CI
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    def y(v: float) -> float:
        return metric.value(v) or 0.0

    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=100)
    ok = [e for e in pool if e.status == "ok" and e.accuracy is not None]
    nao = [e for e in ok if e.source in PROPOSED]
    other = [e for e in ok if e.source not in PROPOSED]
    random_only = all(e.source in ("random", "explore", "random-fill") for e in other)
    for group, label, color, marker in (
        (other, "random architectures" if random_only else "other architectures", "tab:gray", "o"),
        (nao, "NAO's proposals", "tab:blue", "o"),
    ):
        if group:  # a small spread around the round keeps equal scores apart
            xs = [(e.round or 0) + 0.18 * (((i * 7) % 11) / 10 - 0.5) for i, e in enumerate(group)]
            ax.scatter(xs, [y(float(e.accuracy or 0)) for e in group], s=14, alpha=0.45,
                       color=color, marker=marker, label=f"{label} ({len(group)})")  # fmt: skip
    first = [float(e.accuracy or 0) for e in other if e.round == 1]
    if first:
        ax.axhline(y(sum(first) / len(first)), color="tab:gray", linestyle="--", linewidth=1,
                   label="mean of round 1")  # fmt: skip
    series = [
        ("real_mean", "mean of NAO's proposals", "tab:blue", "-", "s", "tab:blue"),
        ("predicted_mean", "what the predictor expected", "tab:purple", ":", "D", "none"),
        ("best_so_far", "best so far", "black", "-", "*", "black"),
    ]
    for key, label, color, style, marker, face in series:
        # the prediction a little to the right of the measured mean: both stay visible
        dx = 0.12 if key == "predicted_mean" else 0.0
        pts = [(r.round + dx, y(v)) for r in rounds if (v := getattr(r, key)) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), color=color, linestyle=style, marker=marker,
                    markerfacecolor=face, markersize=7 if marker != "*" else 10, label=label)  # fmt: skip
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _label(ax, metric, PercentFormatter)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig


def _label(ax: Any, metric: Metric, percent: Any) -> None:
    """The y axis: what the metric's values are (in percent for accuracies)."""
    ax.set_ylabel(metric.kind.axis)
    if metric.kind.percent:
        ax.yaxis.set_major_formatter(percent(xmax=1.0, decimals=0))


def accuracy_plot(
    rounds: Sequence[RoundRecord], pool: Sequence[PoolEntry] = (), metric: Metric = ACCURACY
) -> bytes:
    """accuracy_figure as PNG bytes."""
    return _png(accuracy_figure(rounds, pool, metric))


# ---------------------------------------------------------------- accuracy versus size

SIZE_LABELS = {"params": "parameters", "macs": "multiply-adds (MACs)"}


@dataclass(frozen=True)
class SizedPoint:
    """One evaluated architecture on the accuracy-versus-size plane."""

    id: str
    size: float
    accuracy: float  # the search's score (higher is better; language models: 1 - ln ppl / ln V)


@dataclass(frozen=True)
class Sizes:
    """Every evaluated architecture with a size: `key` is params, or macs where no entry has
    params; `counted` when the sizes were computed from the space's network, not recorded."""

    key: str
    points: list[SizedPoint]
    counted: bool = False


def pool_sizes(
    pool: Sequence[PoolEntry], count_params: Callable[[Arch], int] | None = None
) -> Sizes | None:
    """The sizes of the pool's evaluated architectures: their recorded params (train_child's,
    or a table's params column), else their MACs, else params counted by count_params (the
    search's child network, for evaluators that record no sizes); None when nothing gives any."""
    ok = [e for e in pool if e.status == "ok" and e.accuracy is not None]
    for key in SIZE_LABELS:
        pts = [
            SizedPoint(e.id, float(e.extra[key]), float(e.accuracy))  # type: ignore[arg-type]
            for e in ok
            if e.extra.get(key) is not None
        ]
        if pts:
            return Sizes(key, pts)
    if count_params is None or not ok:
        return None
    pts = [SizedPoint(e.id, float(count_params(e.arch)), float(e.accuracy)) for e in ok]  # type: ignore[arg-type]
    return Sizes("params", pts, counted=True)


def pareto_front(points: Sequence[SizedPoint]) -> list[SizedPoint]:
    """The points no other point dominates (as small or smaller and as accurate or more, and
    strictly better in one), smallest first; equal points are all on the front."""
    front: list[SizedPoint] = []
    for p in sorted(points, key=lambda p: (p.size, -p.accuracy, p.id)):
        last = front[-1] if front else None
        if last is None or p.accuracy > last.accuracy:
            front.append(p)
        elif p.accuracy == last.accuracy and p.size == last.size:
            front.append(p)
    return front


def pareto_plot(sizes: Sizes, winner: str | None, metric: Metric = ACCURACY) -> bytes:
    """pareto_figure as PNG bytes."""
    return _png(pareto_figure(sizes, winner, metric))


def pareto_figure(sizes: Sizes, winner: str | None, metric: Metric = ACCURACY) -> Figure:
    """Every evaluated architecture's accuracy against its size (log scale, labelled so), the
    Pareto front as a step line, the search's best as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter, PercentFormatter

    def y(v: float) -> float:
        return metric.value(v) or 0.0

    front = pareto_front(sizes.points)
    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=100)
    ax.scatter([p.size for p in sizes.points], [y(p.accuracy) for p in sizes.points], s=14,
               alpha=0.5, color="tab:blue", label=f"evaluated ({len(sizes.points)})")  # fmt: skip
    ax.step([p.size for p in front], [y(p.accuracy) for p in front], where="post",
            color="tab:orange", marker="o", markersize=5, label=f"Pareto front ({len(front)})")  # fmt: skip
    best = [p for p in sizes.points if p.id == winner]
    if best:
        ax.scatter([best[0].size], [y(best[0].accuracy)], marker="*", s=220, color="tab:red",
                   edgecolors="black", zorder=5, label="best")  # fmt: skip
    low, high = min(p.size for p in sizes.points), max(p.size for p in sizes.points)
    if low > 0:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 40k, 1M
        if high < 10 * low:  # within one decade only the minor ticks have labels
            ax.xaxis.set_minor_formatter(EngFormatter(sep=""))
    counted = " (counted)" if sizes.counted else ""
    ax.set_xlabel(SIZE_LABELS[sizes.key] + counted + (", log scale" if low > 0 else ""))
    _label(ax, metric, PercentFormatter)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return fig
