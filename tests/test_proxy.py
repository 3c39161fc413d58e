"""The zero-cost evaluator (evaluator.kind proxy) and proxies beside a supernet: SynFlow and
parameter count of the untrained child network, standardized against a seeded reference sample,
scored without data and without training."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from nao_kfp.child.params import build_network, net_spec
from nao_kfp.child.proxies import ProxyScorer, combine, synflow
from nao_kfp.config import load_config
from nao_kfp.errors import ConfigError
from nao_kfp.evaluators import make_evaluator
from nao_kfp.loop import run_search
from nao_kfp.metric import SCORE
from nao_kfp.pool import PoolEntry, entry
from nao_kfp.progress import format_event
from nao_kfp.records import read_result
from nao_kfp.spaces import get_space
from nao_kfp.summary import summary_table

SPACE = get_space("nb201")
SMALL_NET = net_spec("cifar10", layers=1, channels=4, aux_head=False)
CONVS = SPACE.parse(
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)
POOLS = SPACE.parse(
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
)
NO_PATH = SPACE.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
FAST = [
    "evaluator.kind=proxy", "child.layers=1", "child.channels=4", "evaluator.proxy_reference=20",
    "search.initial_archs=8", "search.top_k=3", "search.new_archs=4", "search.shards=1",
    "controller.epochs=8", "search.warm_epochs=3", "search.rounds=3",
]  # fmt: skip


def test_synflow_grows_with_the_paths_that_carry_signal() -> None:
    def flow(arch: object) -> float:
        torch.manual_seed(0)
        return synflow(build_network(SPACE, arch, SMALL_NET), (3, 32, 32))

    # pooling has no weights of its own; with no edge, only the stem, the residual reduction
    # blocks and the classifier carry any flow
    assert flow(CONVS) > flow(POOLS) > flow(NO_PATH) > 0.0


def test_scores_are_absolute_deterministic_and_rank_by_the_proxies() -> None:
    a = ProxyScorer(SPACE, SMALL_NET, ["synflow", "params"], seed=3, reference=16)
    b = ProxyScorer(SPACE, SMALL_NET, ["synflow", "params"], seed=3, reference=16)
    cells = SPACE.sample_unique(6, random.Random(1))
    scores = [a.score(c) for c in cells]
    assert scores == [b.score(c) for c in reversed(cells)][::-1]  # no dependence on order
    assert a.score(CONVS) > a.score(POOLS) > a.score(NO_PATH)
    by_params = ProxyScorer(SPACE, SMALL_NET, ["params"], reference=16)
    counts = [
        sum(p.numel() for p in build_network(SPACE, c, SMALL_NET).parameters()) for c in cells
    ]
    order = sorted(range(6), key=lambda i: counts[i])
    assert [by_params.score(cells[i]) for i in order] == sorted(by_params.score(c) for c in cells)
    assert combine([]) == 0.5 and combine([100.0]) == 1.0 and combine([1.0, 1.0]) > combine([1.0])


def test_a_proxy_search_runs_the_one_loop_and_is_deterministic(tmp_path: Path) -> None:
    cfg = load_config("nb201", FAST)
    pool = run_search(cfg, tmp_path / "a", evaluator=make_evaluator(cfg))
    again = run_search(cfg, tmp_path / "b")
    assert [(e.id, e.accuracy) for e in pool] == [(e.id, e.accuracy) for e in again]
    assert len(pool) == 8 + 2 * 4 and all(e.status == "ok" for e in pool)
    assert all(set(e.extra["proxies"]) == {"synflow", "params"} for e in pool)
    result = read_result(tmp_path / "a" / "result.json")
    assert result.best.dev_accuracy == max(e.accuracy for e in pool if e.accuracy is not None)
    # a score is never called an accuracy: result.json, the summary table, the progress lines
    assert result.metric == SCORE
    table = summary_table(result)
    assert "best score" in table and "dev acc" not in table
    line = format_event({"event": "round", "round": 2, "evaluated": 4, "best": 0.61,
                         "best_so_far": 0.7, "metric": "score"})  # fmt: skip
    assert line == "round 2: 4 archs evaluated, best score 0.6100, best so far 0.7000"


def test_the_proxy_evaluator_scores_each_cell_alone() -> None:
    ev = make_evaluator(load_config("nb201", FAST))
    cells = [entry(SPACE, c) for c in (CONVS, POOLS, NO_PATH)]
    together = [e.accuracy for e in ev.evaluate(cells)]
    alone = [ev.evaluate([entry(SPACE, c)])[0].accuracy for c in (CONVS, POOLS, NO_PATH)]
    assert together == alone and together[0] > together[1] > together[2]
    assert isinstance(cells[0], PoolEntry)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["evaluator.proxies=[synflow, flops]"], "evaluator.proxies[1]: expected one of params, synflow, synflow_bn, naswot, got 'flops'"),
        (["evaluator.proxies=[params, params]"], "evaluator.proxies[1]: params is listed twice"),
        (["evaluator.kind=table", "evaluator.proxies=[params]"], "evaluator.proxies: evaluator.kind table does not use"),
        (["evaluator.proxy_reference=1"], "evaluator.proxy_reference: expected at least 2"),
    ],
)  # fmt: skip
def test_bad_proxy_settings_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("[", r"\[").replace("]", r"\]")):
        load_config("nb201", ["evaluator.kind=proxy", *overrides])


def test_proxies_need_an_image_space() -> None:
    with pytest.raises(ConfigError, match=r"^evaluator.kind: proxy needs an image space"):
        load_config("ptb", ["evaluator.kind=proxy"])
    with pytest.raises(ConfigError, match=r"^evaluator.proxies: the proxies score image networks"):
        load_config("nao-ws-ptb", ["evaluator.proxies=[params]"])


def test_data_proxies_read_a_seeded_batch_of_training_images(tmp_path: Path) -> None:
    """synflow_bn and naswot on digits (scikit-learn's, no download): the batch sets the
    BatchNorm statistics, so synflow_bn is not synflow; both are deterministic."""
    cfg = load_config(
        "demo",
        ["evaluator.kind=proxy", "evaluator.proxies=[synflow, synflow_bn, naswot]",
         "evaluator.proxy_reference=4", "evaluator.proxy_batch=16", "child.layers=1",
         "child.channels=4"],
    )  # fmt: skip
    space = get_space(cfg.search.space)
    cells = [entry(space, a) for a in space.sample_unique(3, random.Random(0))]
    ev = make_evaluator(cfg)
    ev.prepare(tmp_path)
    first = [(e.accuracy, e.extra["proxies"]) for e in ev.evaluate(cells)]
    again = [(e.accuracy, e.extra["proxies"]) for e in make_evaluator(cfg).evaluate(cells)]
    assert first == again
    raw = ev.scorer.raw(cells[0].arch)
    assert set(raw) == {"synflow", "synflow_bn", "naswot"} and raw["synflow"] != raw["synflow_bn"]


# ---------------------------------------------------------------- zero-cost seeding


def test_best_ranks_a_given_set_by_the_proxies_within_it_without_a_reference_sample() -> None:
    scorer = ProxyScorer(SPACE, SMALL_NET, ["params"], reference=10**6)  # never drawn
    cells = [POOLS, *SPACE.sample_unique(8, random.Random(2)), CONVS]
    counts = {
        SPACE.canonical_id(c): sum(
            p.numel() for p in build_network(SPACE, c, SMALL_NET).parameters()
        )
        for c in cells
    }
    top = scorer.best(cells, 3)
    assert top[0] == CONVS and POOLS not in top
    assert [counts[SPACE.canonical_id(c)] for c in top] == sorted(counts.values())[::-1][:3]
    assert "norms" not in vars(scorer)  # ranking within the set needed no reference sample


def test_proxy_seed_starts_the_search_from_the_proxies_best_of_a_random_pool(
    tmp_path: Path,
) -> None:
    from nao_kfp import steps
    from nao_kfp.pool import read_pool

    keys = ["child.layers=1", "child.channels=4", "search.initial_archs=8", "search.top_k=3"]
    seeded = load_config("nb201", [*keys, "search.proxy_seed=4", "search.proxy_pool=40"])
    plain = load_config("nb201", [*keys, "search.proxy_seed=0"])
    ev = make_evaluator(load_config("nb201", [*keys, "evaluator.kind=proxy"]))
    for name, cfg in (("a", seeded), ("b", seeded), ("plain", plain)):
        steps.sample(cfg, tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json", evaluator=ev)
    a, b, rand = (read_pool(tmp_path / f"{n}.jsonl") for n in ("a", "b", "plain"))
    assert [e.id for e in a] == [e.id for e in b]  # deterministic
    assert [e.source for e in a] == ["proxy"] * 4 + ["random"] * 4
    assert len({e.id for e in a}) == 8 and {e.source for e in rand} == {"random"}
    scores = [ev.scorer.score(e.arch) for e in a]
    plain_scores = [ev.scorer.score(e.arch) for e in rand]
    assert min(scores[:4]) > max(scores[4:]) and min(scores[:4]) > sorted(plain_scores)[4]
    line = format_event({"event": "proxy_seed", "round": 1, "archs": 4, "pool": 40})
    assert (
        line
        == "round 1: 4 initial archs are the best of 40 random ones by SynFlow + params (untrained)"
    )


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["search.proxy_seed=5", "search.proxy_pool=3"], "search.proxy_pool: 3 random architectures cannot give search.proxy_seed 5"),
        (["search.proxy_seed=-1"], "search.proxy_seed: expected at least 0, got -1"),
    ],
)  # fmt: skip
def test_proxy_seed_bad_values_are_one_line_errors(keys: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config("nb201", keys)
    assert str(err.value) == message


def test_proxy_seed_is_refused_for_the_recurrent_space() -> None:
    with pytest.raises(ConfigError) as err:
        load_config("ptb", ["search.proxy_seed=2"])
    assert str(err.value).startswith("search.proxy_seed: the proxies score image networks (")
    assert str(err.value).endswith("not search.space 'enas-rnn'")


def test_proxy_seed_fills_at_most_the_initial_sample(tmp_path: Path) -> None:
    from nao_kfp import steps
    from nao_kfp.pool import read_pool

    keys = ["child.layers=1", "child.channels=4", "search.initial_archs=6", "search.top_k=3"]
    cfg = load_config("nb201", [*keys, "search.proxy_seed=50", "search.proxy_pool=60"])
    ev = make_evaluator(load_config("nb201", [*keys, "evaluator.kind=proxy"]))
    steps.sample(cfg, tmp_path / "p.jsonl", tmp_path / "h.json", evaluator=ev)
    assert [e.source for e in read_pool(tmp_path / "p.jsonl")] == ["proxy"] * 6
