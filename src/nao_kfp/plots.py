"""The report's two plots: accuracy by round (the paper's Fig. 2b: the predictor's mean
prediction for each round's new architectures beside their real mean), and every evaluated
architecture's accuracy against its size with the Pareto front and the best marked."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nao_kfp.pool import PoolEntry
from nao_kfp.poolstats import score_to_perplexity
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


def accuracy_plot(rounds: Sequence[RoundRecord], *, perplexity_vocab: int | None = None) -> bytes:
    """PNG: best / mean dev accuracy per round, and predicted vs real mean of new archs; with
    perplexity_vocab, the same scores shown as validation perplexity (lower is better)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a pod or CI
    import matplotlib.pyplot as plt

    def y(v: float) -> float:
        return score_to_perplexity(v, perplexity_vocab) if perplexity_vocab else v

    xs = [r.round for r in rounds]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    series = [
        ("best_so_far", "best so far", "-", "o"),
        ("best_accuracy", "best of round", "--", "^"),
        ("mean_accuracy", "mean of round", "-", "s"),
        ("real_mean", "new archs: real mean", ":", "x"),
        ("predicted_mean", "new archs: predicted mean", ":", "+"),
    ]
    for key, label, style, marker in series:
        values = [(x, getattr(r, key)) for x, r in zip(xs, rounds, strict=True)]
        pts = [(x, y(v)) for x, v in values if v is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), linestyle=style, marker=marker, label=label)
    ax.set_xlabel("round")
    ax.set_ylabel("dev perplexity (lower is better)" if perplexity_vocab else "dev accuracy")
    ax.set_xticks(xs)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)


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


def pareto_plot(sizes: Sizes, winner: str | None, *, perplexity_vocab: int | None = None) -> bytes:
    """PNG: every evaluated architecture's accuracy against its size (log scale), the Pareto
    front as a step line, the search's best as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    def y(v: float) -> float:
        return score_to_perplexity(v, perplexity_vocab) if perplexity_vocab else v

    front = pareto_front(sizes.points)
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
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
    ax.set_xlabel(SIZE_LABELS[sizes.key] + (" (counted)" if sizes.counted else ""))
    ax.set_ylabel("dev perplexity (lower is better)" if perplexity_vocab else "dev accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig)
