"""Strategies on a generated table: exact budgets, determinism, staying in the space and table."""

import pytest

from nao_kfp.config import load_config
from nao_kfp.spaces import get_space
from nao_kfp.strategies import (
    EvolutionConfig,
    RandomSearch,
    RegularizedEvolution,
    StrategyError,
    make_strategy,
)
from nao_kfp.tabular import TableSpec, generate_table

NB201 = get_space("nb201")
TABLE = generate_table(NB201, TableSpec(seed=7, rows=1500))


def small_nao(*overrides: str):
    cfg = load_config(
        "nb201",
        [
            "search.initial_archs=8",
            "search.top_k=4",
            "search.new_archs=6",
            "controller.epochs=5",
            "controller.patience=0",
            *overrides,
        ],
    )
    return make_strategy("nao", cfg)


def baselines():
    return [RandomSearch(), RegularizedEvolution(EvolutionConfig(population=8, tournament=3))]


@pytest.mark.parametrize("strategy", baselines(), ids=lambda s: s.name)
@pytest.mark.parametrize("budget", [1, 9, 37])
def test_budget_is_spent_exactly_on_distinct_table_rows(strategy, budget):
    history = strategy.run(TABLE, budget, seed=0)
    assert len(history) == budget
    assert [q.index for q in history] == list(range(1, budget + 1))
    assert len({q.id for q in history}) == budget
    for q in history:
        row = TABLE.get_id(q.id)
        assert row is not None and row.valid == q.valid and row.test == q.test


@pytest.mark.parametrize("strategy", baselines(), ids=lambda s: s.name)
def test_deterministic_per_seed_and_anytime(strategy):
    a = strategy.run(TABLE, 40, seed=3)
    assert strategy.run(TABLE, 40, seed=3) == a
    assert strategy.run(TABLE, 40, seed=4) != a
    # the benchmark reads smaller budgets off the largest run; that is only right if runs are prefixes
    assert strategy.run(TABLE, 15, seed=3) == a[:15]


def test_budget_larger_than_the_table_is_refused():
    with pytest.raises(StrategyError, match="only 1500 architectures"):
        RandomSearch().run(TABLE, 1501, seed=0)


def test_evolution_mutates_within_the_space_and_near_its_population():
    cfg = EvolutionConfig(population=10, tournament=4, max_steps=2)
    history = RegularizedEvolution(cfg).run(TABLE, 80, seed=1)
    sources = [q.source for q in history]
    assert sources[:10] == ["initial"] * 10 and sources.count("mutation") > 40
    for i, q in enumerate(history):
        tokens = NB201.encode(NB201.parse(q.arch))
        assert NB201.is_valid_tokens(tokens)
        if q.source == "mutation":
            # a child is at most max_steps single-token mutations away from an earlier arch
            earlier = [NB201.encode(NB201.parse(p.arch)) for p in history[:i]]
            assert min(NB201.hamming(tokens, e) for e in earlier) <= cfg.max_steps


def test_evolution_beats_random_on_the_generated_table():
    # the generated table has structure; if evolution could not use it, mutations would be broken
    def mean_best(strategy):
        return sum(max(q.valid for q in strategy.run(TABLE, 40, seed=s)) for s in range(8)) / 8

    assert mean_best(
        RegularizedEvolution(EvolutionConfig(population=10, tournament=3))
    ) > mean_best(RandomSearch())


def test_evolution_rejects_a_tournament_larger_than_the_population():
    with pytest.raises(StrategyError, match="evolution.tournament"):
        RegularizedEvolution(EvolutionConfig(population=5, tournament=6))


def test_nao_spends_the_budget_and_proposes_only_unseen_table_archs():
    history = small_nao().run(TABLE, 26, seed=0)
    assert len(history) == 26 and len({q.id for q in history}) == 26
    assert all(TABLE.get_id(q.id) is not None for q in history)
    # the preset's search.proxy_seed: the initial cells are chosen by zero-cost proxies
    assert [q.source for q in history[:8]] == ["proxy"] * 8
    # 1500 of 15625 cells: decoded cells are mostly missing, and their nearest rows stand in
    assert any(q.source in ("nao", "nao-nearest") for q in history[8:])


def test_nao_is_deterministic_per_seed():
    a = small_nao().run(TABLE, 20, seed=5)
    assert small_nao().run(TABLE, 20, seed=5) == a
    assert small_nao().run(TABLE, 14, seed=5) == a[:14]


def test_nao_refuses_a_config_for_another_space():
    cfg = load_config("nb201", ["search.space=enas"])
    with pytest.raises(StrategyError, match="search.space"):
        make_strategy("nao", cfg).run(TABLE, 10, seed=0)


def test_unknown_strategy_is_named():
    with pytest.raises(StrategyError, match="'greedy'"):
        make_strategy("greedy", load_config("nb201"))


def _hamming(a, b) -> int:
    return NB201.hamming(NB201.encode(a), NB201.encode(b))


def test_nao_queries_the_nearest_unseen_row_for_a_decoded_arch_missing_from_the_table():
    # 300 of 15625 cells: most decoded cells are missing, so the nearest rows stand in for them
    table = generate_table(NB201, TableSpec(seed=3, rows=300))
    history = small_nao().run(table, 30, seed=1)
    near = [q for q in history if q.source == "nao-nearest"]
    assert near, [q.source for q in history]
    assert len({q.id for q in history}) == 30


def test_nearest_unseen_picks_a_closest_unseen_row():
    import random

    from nao_kfp.evaluators import TableEvaluator

    ev = TableEvaluator(small_nao().cfg.replace(), table=TABLE)
    rng = random.Random(0)
    target = NB201.sample(rng)
    while TABLE.get(target) is not None:
        target = NB201.sample(rng)
    first = ev.substitute(target, set(), rng)
    assert first is not None
    best = min(_hamming(target, r.arch) for r in TABLE.rows)
    assert _hamming(target, first) == best
    seen = {NB201.canonical_id(first)}  # once in the pool, it is never picked again
    second = ev.substitute(target, seen, rng)
    assert second is not None and NB201.canonical_id(second) not in seen
    assert _hamming(target, second) == min(
        _hamming(target, r.arch) for r in TABLE.rows if r.id not in seen
    )
    assert ev.substitute(first, set(), rng) is first  # a table row stands for itself


def test_skip_mode_never_substitutes_a_row():
    nao = small_nao("evaluator.unavailable=skip")
    table = generate_table(NB201, TableSpec(seed=3, rows=300))
    history = nao.run(table, 24, seed=1)
    assert len(history) == 24
    assert not [q for q in history if q.source == "nao-nearest"]


def test_unknown_unavailable_mode_is_named():
    from nao_kfp.errors import ConfigError

    with pytest.raises(
        ConfigError, match="evaluator.unavailable: expected one of nearest, skip, got 'closest'"
    ):
        load_config("nb201", ["evaluator.unavailable=closest"])
