"""The search report a user reads: report.md and report.html, the summary table, result stats."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from nao_kfp import report
from nao_kfp.child import train_child
from nao_kfp.child.train_rnn import perplexity_score
from nao_kfp.config import load_config
from nao_kfp.pool import PoolEntry, entry
from nao_kfp.spaces import get_space

LONG_ARCH = get_space("nasnet").to_string(get_space("nasnet").sample(random.Random(0)))


def image_run(space_name: str = "nasnet") -> tuple[dict[str, Any], list[PoolEntry]]:
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
             "predicted_mean": 0.7, "real_mean": 0.725, "pairwise_accuracy": 1.0, "hamming": 2.0},
        ],
        "best": {"arch": best.arch_str, "id": best.id, "dev_accuracy": best.accuracy, "round": 2,
                 "source": "nao", "params": None, "describe": space.describe(best.arch)},
    }  # fmt: skip
    return result, pool


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
    paths = report.write_report(result, pool, tmp_path)
    page = paths["html"].read_text()
    seen = page_text(page)
    visible = "".join(seen.text)
    assert "`" not in visible and "**" not in visible
    assert "<code>nasnet</code>" in page and f"<code>{result['best']['id']}</code>" in page
    # the long architecture sits in a <pre> that wraps (it is over 200 characters on one line)
    assert len(LONG_ARCH) > 200 and result["best"]["arch"] in "".join(seen.pre)
    css = re.search(r"<style>(.*?)</style>", page, re.S)
    assert css and re.search(r"pre\{[^}]*white-space:pre-wrap", css.group(1))
    assert "overflow-wrap:anywhere" in css.group(1)


def test_every_caption_and_paragraph_of_the_markdown_is_in_the_html(tmp_path: Path) -> None:
    result, pool = image_run()
    paths = report.write_report(result, pool, tmp_path)
    md, page = paths["markdown"].read_text(), paths["html"].read_text()
    visible = " ".join("".join(page_text(page).text).split())
    prose = [
        line.strip("*")
        for line in md.splitlines()
        if line and not line.startswith(("#", "|", "!", "```")) and "`" not in line
    ]
    assert any(line.startswith("Predicted vs real") for line in prose)
    for line in prose:
        plain = " ".join(line.replace("**", "").split())
        assert plain in visible, plain
    assert page.count("<figcaption>") == 3  # the plot and both cells


def test_each_round_shows_parameters_next_to_accuracy(tmp_path: Path) -> None:
    result, pool = image_run()
    stats = report.with_pool_stats(result, pool)
    r1, r2 = stats["rounds"]
    assert r1["best_params"] == 4000 and r1["mean_params"] == pytest.approx(2500)
    assert r2["best_params"] == 6000 and r2["mean_params"] == pytest.approx(5500)
    assert stats["best"]["params"] == 6000 and stats["best"]["macs"] == 300_000
    assert report.with_pool_stats(stats, pool) == stats  # idempotent
    heads = [c.head for c in report.columns(stats)]
    assert heads.index("params (best)") == heads.index("best dev acc") + 1
    md = report.write_report(result, pool, tmp_path)["markdown"].read_text()
    assert "| 2 | 2 | 0.7500 | 6.00k | 0.7250 | 5.50k |" in md
    table = report.summary_table(result, pool)
    assert "params (best)" in table and "6.00k" in table
    assert "best: dev accuracy 0.7500, 6.00k params" in table


def test_missing_graphviz_leaves_a_note_instead_of_diagrams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report.diagrams, "available", lambda: False)
    result, pool = image_run()
    paths = report.write_report(result, pool, tmp_path)
    assert "normal" not in paths and "apt-get install graphviz" in paths["html"].read_text()


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
        assert res["dev_perplexity"] > 1 and res["vocab"] == 12  # 10 words, <eos>, <unk>
        pool.append(entry(space, arch, accuracy=res["dev_accuracy"], round=1, source="random",
                          **{k: v for k, v in res.items() if k != "dev_accuracy"}))  # fmt: skip
    best = max(pool, key=lambda e: (e.accuracy, e.id))
    assert report.perplexity_of(best) == best.extra["dev_perplexity"]
    result = {
        "name": "ptb", "space": "enas-rnn", "evaluated": 2, "failed": 0,
        "rounds": [{"round": 1, "evaluated": 2, "best_accuracy": best.accuracy,
                    "mean_accuracy": sum(e.accuracy for e in pool) / 2, "best_so_far": best.accuracy}],
        "best": {"arch": best.arch_str, "id": best.id, "dev_accuracy": best.accuracy, "round": 1,
                 "source": "random", "params": None, "describe": space.describe(best.arch)},
    }  # fmt: skip
    stats = report.with_pool_stats(result, pool)
    ppl = best.extra["dev_perplexity"]
    assert stats["best"]["dev_perplexity"] == ppl and stats["metric"]["name"] == "perplexity"
    assert stats["rounds"][0]["best_perplexity"] == ppl
    table = report.summary_table(result, pool)
    assert "best dev ppl" in table and f"dev perplexity {ppl:.2f}" in table
    assert "dev acc" not in table
    paths = report.write_report(result, pool, tmp_path / "rep")
    for doc in (paths["markdown"].read_text(), paths["html"].read_text()):
        assert f"dev perplexity {ppl:.2f}" in doc and "dev accuracy" not in doc
    assert "cell" in paths  # the recurrent cell's diagram


def test_perplexity_of_inverts_the_score_when_only_the_score_is_known() -> None:
    space = get_space("enas-rnn")
    arch = space.sample(random.Random(0))
    e = entry(space, arch, accuracy=perplexity_score(81.0, 10000), vocab=10000)
    assert report.perplexity_of(e) == pytest.approx(81.0)
    assert report.perplexity_of(entry(space, arch)) is None
    image = entry(get_space("enas"), get_space("enas").sample(random.Random(0)), accuracy=0.9)
    assert report.perplexity_of(image) is None
    # a round's mean score is the geometric mean of its perplexities
    s = [perplexity_score(p, 10000) for p in (50.0, 200.0)]
    assert report.score_to_perplexity(sum(s) / 2, 10000) == pytest.approx(100.0)
