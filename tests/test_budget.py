"""Budgets: search.max_params / search.max_macs bound every sampled and decoded architecture."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from controller_toy import tiny, toy_pool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nao_kfp.child import train_child
from nao_kfp.child.params import Budget, search_spec, within_budget
from nao_kfp.config import load_config
from nao_kfp.controller import decode_new, fit, optimize_embeddings
from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.spaces import get_space

SPACE = "enas"
CHILD = [
    "child.dataset=digits", "child.layers=1", "child.channels=4", "child.dev_size=200",
    "child.train_subset=200", "child.epochs=1", "child.batch_size=100", "child.device=cpu",
    "child.cpu_threads=1",
]  # fmt: skip


def config(*overrides: str):  # type: ignore[no-untyped-def]
    return load_config(None, [f"search.space={SPACE}", *CHILD, *overrides])


def median_params(n: int = 12) -> int:
    """A limit about half of the space's architectures meet."""
    b = Budget(get_space(SPACE), search_spec(config().child))
    return int(
        statistics.median(
            b.counts(a)[0] for a in get_space(SPACE).sample_unique(n, random.Random(99))
        )
    )


LIMIT = median_params()


def test_no_budget_means_no_predicate_and_unchanged_sampling() -> None:
    assert within_budget(config()) is None
    space = get_space(SPACE)
    plain = space.sample_unique(8, random.Random(3))
    everything = space.sample_unique(8, random.Random(3), accept=lambda a: True)
    assert [space.canonical_id(a) for a in plain] == [space.canonical_id(a) for a in everything]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), slack=st.sampled_from([1.0, 1.2]))
def test_every_sampled_architecture_is_within_budget(seed: int, slack: float) -> None:
    cfg = config(f"search.max_params={int(LIMIT * slack)}")
    budget = within_budget(cfg)
    assert budget is not None
    archs = get_space(SPACE).sample_unique(4, random.Random(seed), accept=budget)
    assert len({get_space(SPACE).canonical_id(a) for a in archs}) == 4
    assert all(budget.counts(a)[0] <= cfg.search.max_params for a in archs)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_macs_budgets_are_respected_too(seed: int) -> None:
    probe = Budget(get_space(SPACE), search_spec(config().child), max_macs=10**12)
    macs = sorted(probe.counts(a)[1] for a in get_space(SPACE).sample_unique(8, random.Random(7)))
    cfg = config(f"search.max_macs={macs[4]}", f"search.max_params={LIMIT * 2}")
    budget = within_budget(cfg)
    assert budget is not None
    archs = get_space(SPACE).sample_unique(3, random.Random(seed), accept=budget)
    for a in archs:
        params, m = budget.counts(a)
        assert m <= macs[4] and params <= LIMIT * 2


@pytest.fixture(scope="module")
def fitted():  # type: ignore[no-untyped-def]
    pool = toy_pool(SPACE, 60, seed=5)
    model, _ = fit(get_space(SPACE), pool, tiny("controller.epochs=20"), seed=0)
    return model, pool, optimize_embeddings(model, pool, top_k=8)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(slack=st.floats(0.9, 1.3), count=st.integers(1, 8))
def test_every_decoded_architecture_is_within_budget(fitted, slack: float, count: int) -> None:  # type: ignore[no-untyped-def]
    model, pool, emb = fitted
    budget = within_budget(config(f"search.max_params={int(LIMIT * slack)}"))
    assert budget is not None
    new = decode_new(
        model, emb, count=count, eta=1.0, eta_growth=2.0, eta_max=1000.0,
        known_ids={e.id for e in pool}, accept=budget,
    )  # fmt: skip
    assert len(new) <= count and all(budget(e.arch) for e in new)


def test_decoding_keeps_stepping_past_rejected_architectures(fitted) -> None:  # type: ignore[no-untyped-def]
    model, pool, emb = fitted
    known = {e.id for e in pool}
    free = decode_new(model, emb, count=4, eta=1.0, eta_growth=2.0, eta_max=1000.0, known_ids=known)
    banned = {free[0].id}
    bounded = decode_new(
        model, emb, count=4, eta=1.0, eta_growth=2.0, eta_max=1000.0, known_ids=known,
        accept=lambda a: get_space(SPACE).canonical_id(a) not in banned,
    )  # fmt: skip
    assert len(bounded) == 4 and banned.isdisjoint(e.id for e in bounded)
    assert [e.id for e in bounded[:3]] == [e.id for e in free[1:4]]


def test_a_budget_no_architecture_fits_is_one_clear_line() -> None:
    budget = within_budget(config("search.max_params=1000"))
    assert budget is not None
    with pytest.raises(ArchError) as err:
        get_space(SPACE).sample_unique(3, random.Random(0), accept=budget, give_up_after=20)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(
        "search.max_params: no enas architecture within 1000 params found after 20 samples"
    )
    assert (
        f"the smallest seen has {budget.smallest_params}" in msg and budget.smallest_params > 1000
    )
    macs = within_budget(config("search.max_macs=10"))
    with pytest.raises(ArchError, match=r"^search.max_macs: no enas architecture within 10 MACs"):
        get_space(SPACE).sample_unique(1, random.Random(0), accept=macs, give_up_after=5)


def test_budget_counts_are_the_params_train_child_reports(tmp_path: Path) -> None:
    cfg = config()
    space = get_space(SPACE)
    arch = space.sample(random.Random(4))
    counts = Budget(space, search_spec(cfg.child), max_macs=1).counts(arch)
    result = train_child(space, arch, cfg.child, tmp_path, seed=0)
    assert counts == (result.params, result.macs)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["search.max_params=-1"], r"^search.max_params: expected at least 0"),
        (["search.space=nb201", "search.max_macs=5"], r"^search.max_macs: budgets apply to"),
    ],
)
def test_budget_keys_are_checked_at_load(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)
