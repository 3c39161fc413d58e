"""The search report a user reads: report.md and report.html, the summary table, result stats."""

from __future__ import annotations

import itertools
import math
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from nao_kfp import findings, plots, report, summary
from nao_kfp.child import train_child
from nao_kfp.config import load_config
from nao_kfp.metric import Metric, perplexity_score
from nao_kfp.pool import PoolEntry, entry
from nao_kfp.poolstats import with_pool_stats
from nao_kfp.records import RoundRecord, SearchResult, from_dict
from nao_kfp.spaces import get_space

LONG_ARCH = get_space("nasnet").to_string(get_space("nasnet").sample(random.Random(0)))


def typed(doc: dict[str, Any]) -> SearchResult:
    return from_dict(SearchResult, {"evaluator": "train", **doc}, "result")


def write(result: SearchResult, pool: list[PoolEntry], out: Path) -> dict[str, Path]:
    """The report of result.json as the search writes it: with the pool's statistics."""
    return report.write_report(with_pool_stats(result, pool), pool, out)


def image_run(space_name: str = "nasnet") -> tuple[SearchResult, list[PoolEntry]]:
    """A two-round result and its pool; each child has params and MACs, as train_child gives."""
    space = get_space(space_name)
    archs = space.sample_unique(6, random.Random(1))
    pool = [
        entry(space, a, accuracy=0.5 + 0.05 * i, round=1 + i // 4, source="random" if i < 4 else "nao",
              params=1000 * (i + 1), macs=50_000 * (i + 1))
        for i, a in enumerate(archs)
    ]  # fmt: skip
    best = pool[-1]
    result = {
        "name": "demo", "space": space.name, "evaluated": 6, "failed": 1,
        "rounds": [
            {"round": 1, "evaluated": 4, "best_accuracy": 0.65, "mean_accuracy": 0.575, "best_so_far": 0.65},
            {"round": 2, "evaluated": 2, "best_accuracy": 0.75, "mean_accuracy": 0.725, "best_so_far": 0.75,
             "predicted_mean": 0.7, "real_mean": 0.725, "pairwise_accuracy": 1.0, "fit": {"hamming": 2.0}},
        ],
        "best": {"arch": best.arch_str, "id": best.id, "dev_accuracy": best.accuracy, "round": 2,
                 "source": "nao", "params": None, "describe": space.describe(best.arch)},
    }  # fmt: skip
    return typed(result), pool


class Text(HTMLParser):
    """The visible text of a page (no markup, no scripts), and the text inside <pre>."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.pre: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if "style" in self._in or "svg" in self._in:
            return
        self.text.append(data)
        if "pre" in self._in:
            self.pre.append(data)


def page_text(html_text: str) -> Text:
    p = Text()
    p.feed(html_text)
    return p


def test_html_has_no_markdown_backticks_and_wraps_long_architectures(tmp_path: Path) -> None:
    result, pool = image_run()
    paths = write(result, pool, tmp_path)
    page = paths["html"].read_text()
    seen = page_text(page)
    visible = "".join(seen.text)
    assert "`" not in visible and "**" not in visible
    assert "<code>nasnet</code>" in page and f"<code>{result.best.id}</code>" in page
    # the long architecture sits in a <pre> that wraps (it is over 200 characters on one line)
    assert len(LONG_ARCH) > 200 and result.best.arch in "".join(seen.pre)
    css = re.search(r"<style>(.*?)</style>", page, re.S)
    assert css and re.search(r"pre\{[^}]*white-space:pre-wrap", css.group(1))
    assert "overflow-wrap:anywhere" in css.group(1)


def test_every_caption_and_paragraph_of_the_markdown_is_in_the_html(tmp_path: Path) -> None:
    result, pool = image_run()
    paths = write(result, pool, tmp_path)
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    visible = " ".join("".join(page_text(page).text).split())
    prose = [
        line.strip("*")
        for line in md.splitlines()
        if line and not line.startswith(("#", "|", "!", "```")) and "`" not in line
    ]
    assert any(line.startswith("Every evaluated architecture by round") for line in prose)
    for line in prose:
        plain = " ".join(line.replace("**", "").split())
        if plain.startswith("- "):  # a glossary entry: the term, then what it means
            term, means = plain[2:].split(": ", 1)
            assert term in visible and means in visible, plain
        else:
            assert plain in visible, plain
    assert page.count("<figcaption>") == 4  # the plot, the accuracy-size scatter and both cells


def test_each_round_shows_parameters_next_to_accuracy(tmp_path: Path) -> None:
    result, pool = image_run()
    stats = with_pool_stats(result, pool)
    r1, r2 = stats.rounds
    assert r1.best_params == 4000 and r1.mean_params == pytest.approx(2500)
    assert r2.best_params == 6000 and r2.mean_params == pytest.approx(5500)
    assert stats.best and stats.best.params == 6000 and stats.best.macs == 300_000
    assert with_pool_stats(stats, pool) == stats  # idempotent
    assert result.best and result.best.params is None  # a new record: the input is unchanged
    heads = [c.head for c in summary.columns(stats)]
    assert heads.index("params (best)") == heads.index("best dev acc") + 1
    md = write(result, pool, tmp_path)["markdown"].read_text()
    assert "| 2 | 2 | 75.00% | 6.00k | 72.50% | 5.50k |" in md  # accuracies in percent
    table = summary.summary_table(stats)
    assert "params (best)" in table and "6.00k" in table
    assert "best: dev accuracy 75.00%, 6.00k params" in table


def test_missing_graphviz_leaves_a_note_instead_of_diagrams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report.diagrams, "available", lambda: False)
    result, pool = image_run()
    paths = write(result, pool, tmp_path)
    assert "normal" not in paths and "apt-get install graphviz" in paths["html"].read_text()


# ---------------------------------------------------------------- accuracy versus size


def P(id: str, size: float, acc: float) -> plots.SizedPoint:  # noqa: N802
    return plots.SizedPoint(id, size, acc)


def test_the_pareto_front_of_a_hand_made_pool() -> None:
    points = [
        P("a", 100, 0.50),  # the smallest: on the front
        P("b", 200, 0.70),  # on the front
        P("c", 200, 0.60),  # as large as b, less accurate
        P("d", 300, 0.70),  # as accurate as b, larger
        P("e", 400, 0.90),  # on the front
        P("f", 400, 0.90),  # equal to e: neither dominates the other
        P("g", 500, 0.85),  # larger and less accurate than e
        P("h", 50, 0.40),  # the very smallest: on the front
    ]
    front = plots.pareto_front(points)
    assert [p.id for p in front] == ["h", "a", "b", "e", "f"]


def test_the_pareto_front_is_exactly_the_undominated_points() -> None:
    def dominates(q: plots.SizedPoint, p: plots.SizedPoint) -> bool:
        return (q.size <= p.size and q.accuracy >= p.accuracy
                and (q.size < p.size or q.accuracy > p.accuracy))  # fmt: skip

    rng = random.Random(3)
    for _ in range(50):
        points = [P(str(i), rng.randint(1, 8), rng.randint(0, 6) / 6) for i in range(20)]
        want = {p.id for p in points if not any(dominates(q, p) for q in points)}
        assert {p.id for p in plots.pareto_front(points)} == want


def test_the_report_plots_accuracy_against_params_with_front_and_winner(tmp_path: Path) -> None:
    result, pool = image_run()
    pool[2].accuracy = 0.95  # 3000 params, now more accurate than the larger ones after it
    paths = write(result, pool, tmp_path)
    assert paths["pareto"].read_bytes()[:4] == b"\x89PNG"
    md = paths["markdown"].read_text()
    assert "## Accuracy versus size" in md and "![dev accuracy versus parameters](pareto.png)" in md
    assert "The Pareto front: 3 of 6 architectures." in md
    ids = [e.id for e in pool]
    assert f"| 1.00k | 50.00% | {ids[0]} |" in md and f"| 2.00k | 55.00% | {ids[1]} |" in md
    assert f"| 3.00k | 95.00% | {ids[2]} |" in md
    winner = (
        result.best.id if result.best else None
    )  # pool[-1]: 6000 params, 0.75, dominated by pool[2]
    assert f"{winner} (best)" not in md
    assert result.best is not None
    result.best.id = ids[2]
    md = write(result, pool, tmp_path / "again")["markdown"].read_text()
    assert f"| 3.00k | 95.00% | {ids[2]} (best) |" in md
    page = paths["html"].read_text()
    assert "Pareto front" in "".join(page_text(page).text)
    assert page.count("data:image/png;base64,") == 2  # self-contained: both plots inline


def test_macs_stand_in_for_unknown_params_and_no_sizes_is_said(tmp_path: Path) -> None:
    result, pool = image_run()
    for e in pool:
        del e.extra["params"]
    sizes = plots.pool_sizes(pool)
    assert sizes is not None and sizes.key == "macs" and not sizes.counted
    md = write(result, pool, tmp_path / "macs")["markdown"].read_text()
    assert "dev accuracy versus multiply-adds (MACs)" in md
    for e in pool:
        del e.extra["macs"]
    assert plots.pool_sizes(pool) is None
    paths = write(result, pool, tmp_path / "none")
    assert "pareto" not in paths and not (tmp_path / "none" / "pareto.png").exists()
    assert report.NO_SIZES in paths["markdown"].read_text()


def test_unsized_pools_are_counted_on_the_search_child_network(tmp_path: Path) -> None:
    """A table or synthetic run records no sizes: the report counts nb201's network at the
    config's size; a language-model space has no image network to count."""
    from nao_kfp.child.params import Budget, search_spec

    cfg = load_config("nb201", ["evaluator.kind=synthetic"])
    space = get_space("nb201")
    archs = space.sample_unique(5, random.Random(4))
    pool = [
        entry(space, a, accuracy=0.1 * i, round=1, source="random") for i, a in enumerate(archs)
    ]
    counter = report.param_counter(cfg)
    assert counter is not None
    sizes = plots.pool_sizes(pool, counter)
    assert sizes is not None and sizes.key == "params" and sizes.counted
    budget = Budget(space, search_spec(cfg.child))
    assert [p.size for p in sizes.points] == [budget.counts(a)[0] for a in archs]
    assert len({p.size for p in sizes.points}) > 1  # the cells differ in size
    rnn = load_config(None, ["search.space=enas-rnn", "child.dataset=ptb", "child.data_dir=x"])
    assert report.param_counter(rnn) is None


def test_the_table_evaluator_records_the_tables_params() -> None:
    from nao_kfp.evaluators import TableEvaluator
    from nao_kfp.tabular import Row, Table

    space = get_space("nb201")
    a, b = space.sample_unique(2, random.Random(5))
    rows = [Row(a, space.canonical_id(a), 80.0, 79.0, 1.0, 1234),
            Row(b, space.canonical_id(b), 70.0, 69.0, 1.0, None)]  # fmt: skip
    table = Table(space, rows, "hand-made")
    cfg = load_config("nb201", ["evaluator.kind=table", "evaluator.table=hand-made.csv"])
    done = TableEvaluator(cfg, table=table).evaluate([entry(space, a), entry(space, b)])
    assert done[0].extra["params"] == 1234 and "params" not in done[1].extra


# ---------------------------------------------------------------- language models


def rnn_config(data_dir: Path) -> Any:
    return load_config(None, [
        "search.space=enas-rnn", "child.dataset=ptb", f"child.data_dir={data_dir}",
        "child.epochs=1", "child.batch_size=4", "child.lr_max=20", "child.momentum=0",
        "child.grad_clip=0.25", "child.device=cpu", "child.cpu_threads=1",
        "child.rnn.embedding_size=16", "child.rnn.hidden_size=16", "child.rnn.bptt=8",
        "child.rnn.eval_batch_size=4", "child.rnn.dropout=0", "child.rnn.dropout_h=0",
        "child.rnn.dropout_x=0", "child.rnn.dropout_i=0", "child.rnn.dropout_e=0",
    ])  # fmt: skip


def write_corpus(folder: Path) -> None:
    rng = random.Random(0)
    words = ["the", "a", "cat", "dog", "sat", "ran", "on", "to", "mat", "door"]
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 120), ("valid", 20), ("test", 20)):
        lines = [" ".join(rng.choice(words) for _ in range(6)) for _ in range(n)]
        (folder / f"ptb.{name}.txt").write_text("\n".join(lines) + "\n")


def test_an_enas_rnn_result_carries_perplexity_into_report_table_and_result(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus")
    cfg = rnn_config(tmp_path / "corpus")
    space = get_space("enas-rnn")
    archs = space.sample_unique(2, random.Random(0))
    pool = []
    for i, arch in enumerate(archs):
        res = train_child(space, arch, cfg.child, tmp_path / f"c{i}", seed=i)
        assert res.dev_perplexity > 1 and res.vocab == 12  # 10 words, <eos>, <unk>
        pool.append(entry(space, arch, accuracy=res.dev_accuracy, round=1, source="random",
                          **{k: v for k, v in res.to_json().items() if k != "dev_accuracy"}))  # fmt: skip
    best = max(pool, key=lambda e: (e.accuracy, e.id))
    result = {
        "name": "ptb", "space": "enas-rnn", "evaluated": 2, "failed": 0,
        "metric": {"name": "perplexity", "vocab": None},  # what conclude writes (the space's)
        "rounds": [{"round": 1, "evaluated": 2, "best_accuracy": best.accuracy,
                    "mean_accuracy": sum(e.accuracy for e in pool) / 2, "best_so_far": best.accuracy}],
        "best": {"arch": best.arch_str, "id": best.id, "dev_accuracy": best.accuracy, "round": 1,
                 "source": "random", "params": None, "describe": space.describe(best.arch)},
    }  # fmt: skip
    stats = with_pool_stats(typed(result), pool)
    # result.json keeps the scores; its metric, with the children's vocabulary, reads them as
    # perplexities (a score clipped at 0: at least the vocabulary's 12, no better than uniform)
    assert stats.metric == Metric("perplexity", 12) and stats.best is not None
    ppl, test_ppl = best.extra["dev_perplexity"], best.extra["test_perplexity"]
    assert stats.metric.value(stats.best.dev_accuracy) == pytest.approx(min(ppl, 12.0))
    assert stats.metric.value(stats.rounds[0].best_accuracy) == pytest.approx(min(ppl, 12.0))
    assert stats.metric.value(stats.best.test_accuracy) == pytest.approx(min(test_ppl, 12.0))
    shown = stats.metric.text(best.accuracy)
    assert shown in (f"{ppl:.2f}", "≥ 12.00")
    table = summary.summary_table(stats)
    assert "best dev ppl" in table and f"dev perplexity {shown}" in table
    assert "test perplexity" in table and "dev acc" not in table
    paths = report.write_report(stats, pool, tmp_path / "rep")
    for doc in (paths["markdown"].read_text(), paths["html"].read_text()):
        assert f"dev perplexity {shown}" in doc and "dev accuracy" not in doc
    assert "cell" in paths  # the recurrent cell's diagram


def test_a_perplexity_metric_reads_a_language_models_score_as_its_perplexity() -> None:
    m = Metric("perplexity", 10000)
    assert m.value(perplexity_score(81.0, 10000)) == pytest.approx(81.0)
    assert m.text(perplexity_score(81.0, 10000)) == "81.00" and m.label == "dev perplexity"
    assert not m.kind.higher_is_better and m.tagged(perplexity_score(81.0, 10000)) == "ppl 81.00"
    # a round's mean score is the geometric mean of its perplexities
    s = [perplexity_score(p, 10000) for p in (50.0, 200.0)]
    assert m.value(sum(s) / 2) == pytest.approx(100.0)
    # without its vocabulary a score reads as a score; the children's vocabulary completes it
    assert Metric("perplexity").text(0.5) == "0.5000" and Metric("perplexity").label == "score"
    space = get_space("enas-rnn")
    child = entry(space, space.sample(random.Random(0)), accuracy=0.5, vocab=10000)
    assert Metric("perplexity").with_vocab([child]) == m
    # an accuracy is its own value, in percent
    assert Metric().with_vocab([child]) == Metric() and Metric().text(0.9) == "90.00%"
    assert Metric().values({"best_accuracy": 0.9}) == {"best_accuracy": 0.9}
    assert m.values({"best_accuracy": s[0], "round": 1}) == {
        "best_perplexity": pytest.approx(50.0),
        "round": 1,
    }


# ---------------------------------------------------------------- what NAO did


def nao_run() -> tuple[SearchResult, list[PoolEntry]]:
    """image_run with a test accuracy on the best and a predictor that ranked round 2's pair."""
    result, pool = image_run()
    pool[-1].extra["test_accuracy"] = 0.7
    for e in pool[4:]:
        e.predicted = 0.8
    result.rounds[1].proposed = 2
    return with_pool_stats(result, pool), pool


def test_the_origins_compare_naos_proposals_with_the_random_ones() -> None:
    stats, pool = nao_run()
    by = {o.source: o for o in stats.origins}
    assert set(by) == {"random", "nao"}
    assert (by["random"].evaluated, by["nao"].evaluated) == (4, 2)
    assert by["random"].mean_accuracy == pytest.approx(0.575) and by["random"].best_accuracy == 0.65
    assert by["nao"].mean_accuracy == pytest.approx(0.725) and by["nao"].predicted == 2
    assert by["nao"].predicted_mean == pytest.approx(0.8) and by["random"].predicted_mean is None
    said = findings.story(stats)
    assert said[0] == (
        "NAO's proposals beat the random architectures: mean dev accuracy 72.50% over 2 "
        "proposals against 57.50% over 4 (+15.00 points); best 75.00% against 65.00%."
    )
    assert said[1] == (
        "The best architecture was proposed by NAO (round 2): dev accuracy 75.00%, test accuracy "
        "70.00% (the test split: never seen by the search)."
    )
    for e in pool[4:]:  # proposals worse than the random ones: said so
        e.accuracy = 0.5
    worse = findings.story(with_pool_stats(stats, pool))[0]
    assert worse.startswith("NAO's proposals did not beat the random architectures")
    table = summary.summary_table(stats)
    assert "What NAO did:" in table and said[0][:60] in table


def test_the_chance_band_is_rarely_reached_by_a_random_ordering() -> None:
    """Over every ordering of n architectures, the share of pairs right reaches the band less
    than 1 time in 20, and the band is not so high that nothing reaches it (n >= 4)."""
    for n in (4, 5, 6, 7):
        band = findings.chance_band(n)
        hits = 0
        for perm in itertools.permutations(range(n)):
            pairs = list(itertools.combinations(range(n), 2))
            right = sum(1 for i, j in pairs if perm[i] < perm[j]) / len(pairs)
            hits += right >= band
        share = hits / math.factorial(n)
        assert 0.005 <= share <= 0.05, (n, share)
    assert findings.chance_band(3) > 1.0  # three architectures: no ordering stands out


@pytest.mark.parametrize(
    ("proposed", "pairwise", "says"),
    [
        (6, 0.4, "But with 6 architectures a round only 85% or more would tell a ranking from "
                 "luck: the predictor is still guessing."),
        (3, 1.0, "With 3 architectures a round no ranking can be told from luck: the predictor "
                 "is still guessing."),
        (12, 0.9, "It ranked them better than chance in round 2."),
    ],
)  # fmt: skip
def test_the_predictor_is_called_guessing_until_its_ranking_beats_chance(
    proposed: int, pairwise: float, says: str
) -> None:
    rounds = [
        RoundRecord(round=1),
        RoundRecord(round=2, proposed=proposed, pairwise_accuracy=pairwise),
    ]
    sentence = findings.predictor_sentence(rounds)
    assert sentence is not None and sentence.startswith(
        f"Of each pair of a round's proposals, the predictor put the better one first "
        f"{100 * pairwise:.0f}% of the time in round 2 (a coin: 50%)."
    )
    assert sentence.endswith(says)
    assert findings.predictor_sentence(rounds[:1]) is None  # round 1 proposes nothing


def test_the_predictor_sentence_names_the_rounds_it_ranked_well_and_those_it_did_not() -> None:
    rounds = [RoundRecord(round=2, proposed=12, pairwise_accuracy=0.9),
              RoundRecord(round=3, proposed=12, pairwise_accuracy=0.5)]  # fmt: skip
    sentence = findings.predictor_sentence(rounds)
    assert sentence is not None
    assert sentence.endswith("It ranked them better than chance in round 2, not in round 3.")


def test_the_report_guides_what_nao_did_next_steps_glossary_and_run_details(
    tmp_path: Path,
) -> None:
    stats, pool = nao_run()
    info = report.RunInfo(
        about=[("preset", "demo"), ("seed", "0")],
        steps=[("serve it", "nao serve /runs/x/model")],
    )
    paths = report.write_report(stats, pool, tmp_path, info=info)
    md = paths["markdown"].read_text()
    for section in ("## What NAO did", "## Next steps", "## Rounds", "## About this run"):
        assert section in md
    assert md.index("## What NAO did") < md.index("## Next steps") < md.index("## Rounds")
    assert "| NAO's proposals | 2 | 72.50% | 75.00% | 80.00% |" in md
    assert "Serve it:\n\n```\nnao serve /runs/x/model\n```" in md
    assert "- **preset**: demo" in md and "- **seed**: 0" in md
    for col in summary.columns(stats):  # every column of the rounds table explained
        assert f"- **{col.head}**: " in md, col.head
    assert f"an architecture is {get_space('nasnet').seq_len} tokens" in md


def test_every_legend_entry_of_the_plots_is_visible_and_log_axes_say_so() -> None:
    """No series lies under another: the legend names each one, no two lines have the same
    points, and the legend sits outside the axes. A log axis says it is one."""
    stats, pool = nao_run()
    stats.rounds[1].real_mean = stats.rounds[1].predicted_mean = 0.725  # equal values
    fig = plots.accuracy_figure(stats.rounds, pool)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["random architectures (4)", "NAO's proposals (2)", "mean of round 1",
                      "mean of NAO's proposals", "what the predictor expected", "best so far"]  # fmt: skip
    lines = [(tuple(ln.get_xdata()), tuple(ln.get_ydata())) for ln in ax.get_lines()]
    assert len(set(lines)) == len(lines)  # equal values drawn apart
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1
    sizes = plots.pool_sizes(pool)
    assert sizes is not None
    pareto = plots.pareto_figure(sizes, pool[-1].id).axes[0]
    assert pareto.get_xscale() == "log" and pareto.get_xlabel() == "parameters, log scale"
    assert plots.accuracy_figure(stats.rounds, pool).axes[0].get_yscale() == "linear"
