"""The NAO controller: valid decoding, learning, checkpoints, metrics, determinism."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from controller_toy import tiny, toy_pool
from hypothesis import given, settings
from hypothesis import strategies as st

from nao_kfp.config import load_config
from nao_kfp.controller import NAOModel, fit, pairwise_accuracy
from nao_kfp.controller.metrics import hamming
from nao_kfp.errors import ConfigError, NaoError
from nao_kfp.pool import entry
from nao_kfp.spaces import SPACES, get_space


def _official_pairwise(la: list[float], lb: list[float]) -> float:
    """The official NAO loop, verbatim in logic."""
    count = total = 0
    for i in range(len(la)):
        for j in range(i + 1, len(la)):
            if la[i] >= la[j] and lb[i] >= lb[j]:
                count += 1
            if la[i] < la[j] and lb[i] < lb[j]:
                count += 1
            total += 1
    return count / total


# ---------------------------------------------------------------- metrics


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=40))
def test_pairwise_accuracy_matches_the_official_loop_ties_included(pairs: list) -> None:
    pred, true = [float(p) for p, _ in pairs], [float(t) for _, t in pairs]
    assert pairwise_accuracy(pred, true) == pytest.approx(_official_pairwise(pred, true))


def test_pairwise_accuracy_extremes_and_errors() -> None:
    true = [0.1, 0.5, 0.3, 0.9]
    assert pairwise_accuracy(true, true) == 1.0
    assert pairwise_accuracy([-t for t in true], true) == 0.0
    with pytest.raises(NaoError, match="at least 2"):
        pairwise_accuracy([0.5], [0.5])


def test_hamming_counts_differing_tokens() -> None:
    a = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert hamming(a, a) == 0.0
    assert hamming(torch.tensor([[1, 0, 3], [0, 0, 0]]), a) == 2.0  # (1 + 3) / 2


# ---------------------------------------------------------------- decoding is always valid


@pytest.mark.parametrize("name", list(SPACES))
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.1, 1.0, 100.0]))
def test_decoder_only_emits_valid_archs(name: str, seed: int, scale: float) -> None:
    space = get_space(name)
    torch.manual_seed(seed % 1000)  # different untrained weights
    model = NAOModel(space, tiny())
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(16, space.seq_len, model.cfg.hidden_size, generator=g) * scale
    tokens = model.net.greedy(F.normalize(h, dim=-1))
    for row in tokens.tolist():
        assert space.is_valid_tokens(row), row
        space.decode(row)


# ---------------------------------------------------------------- learning


def test_fit_beats_chance_and_reconstructs_its_training_set() -> None:
    pool = toy_pool("enas", 160, seed=1)
    train, held = pool[:120], pool[120:]
    model, m = fit(get_space("enas"), train, tiny(), seed=0, eval_set=held)
    assert m["n_train"] == 120 and m["epochs"] == 60 and m["seconds"] > 0
    assert m["pairwise_accuracy"] > 0.75  # chance is 0.5
    train_tokens = model.tokens([e.arch for e in train])
    assert hamming(model.reconstruct([e.arch for e in train]), train_tokens) < 1.0  # of 40 tokens
    # predictions come back in accuracy units
    pred = model.predict([e.arch for e in train])
    lo, hi = min(e.accuracy for e in train), max(e.accuracy for e in train)  # type: ignore[type-var]
    assert all(lo - 0.05 <= p <= hi + 0.05 for p in pred)


def test_fit_leaves_the_global_rng_and_threads_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    fit(get_space("nb201"), toy_pool("nb201", 20), tiny("controller.epochs=2"), seed=5)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_early_stopping_stops_and_restores_the_best_state() -> None:
    cfg = tiny("controller.epochs=400", "controller.patience=2", "controller.eval_every=2",
               "controller.holdout_fraction=0.2")  # fmt: skip
    model, m = fit(get_space("nb201"), toy_pool("nb201", 60), cfg, seed=0)
    assert m["early_stopping"] and m["stopped_early"] and m["epochs"] < 400
    assert m["n_holdout"] == 12 and m["best_epoch"] == m["epochs"] - 2 * 2
    assert 0.5 < m["holdout_pairwise_accuracy"] <= 1.0


def test_fit_rejects_pools_it_cannot_learn_from() -> None:
    space = get_space("nb201")
    pool = toy_pool("nb201", 3)
    with pytest.raises(NaoError, match="at least 2 evaluated"):
        fit(space, [pool[0], entry(space, pool[1].arch)], tiny(), seed=0)
    with pytest.raises(NaoError, match="space 'nb201', not 'enas'"):
        fit(get_space("enas"), pool, tiny(), seed=0)


def test_warm_start_continues_from_the_given_model() -> None:
    space, pool = get_space("nb201"), toy_pool("nb201", 40)
    first, _ = fit(space, pool, tiny(), seed=0)
    # a tiny learning rate for one epoch: the warm-started model stays next to its init
    warm, _ = fit(
        space, pool, tiny("controller.epochs=1", "controller.lr=1e-6"), seed=1, init=first
    )
    cold, _ = fit(space, pool, tiny("controller.epochs=1", "controller.lr=1e-6"), seed=1)
    archs = [e.arch for e in pool]
    diff = [abs(a - b) for a, b in zip(warm.predict(archs), first.predict(archs), strict=True)]
    assert max(diff) < 1e-3
    assert pairwise_accuracy(warm.predict(archs), [e.accuracy for e in pool]) > pairwise_accuracy(  # type: ignore[misc]
        cold.predict(archs),
        [e.accuracy for e in pool],  # type: ignore[misc]
    )
    with pytest.raises(ConfigError, match="controller.hidden_size"):
        fit(space, pool, tiny("controller.hidden_size=8"), seed=0, init=first)


def _training_batches(run) -> list[int]:
    """The batch sizes the encoder LSTM trained on while `run()` ran (grad enabled: training,
    not the quality checks)."""
    sizes: list[int] = []

    def hook(mod: torch.nn.Module, inp: tuple[torch.Tensor, ...], _out: object) -> None:
        if isinstance(mod, torch.nn.LSTM) and torch.is_grad_enabled() and mod.training:
            sizes.append(inp[0].size(0))

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        run()
    finally:
        handle.remove()
    return sizes


def test_a_fit_of_fixed_steps_costs_the_same_for_any_pool() -> None:
    """controller.steps (search.warm_steps): the same number of full batches for 18 or 300
    architectures, so a round's fit does not grow with the search."""
    space = get_space("enas")
    pool = toy_pool("enas", 300, seed=2)
    first, _ = fit(space, pool[:12], tiny("controller.epochs=5"), seed=0)
    cfg = tiny("controller.steps=25", "controller.batch_size=32")
    got = {}
    for n in (18, 300):
        sizes = _training_batches(
            lambda n=n: got.__setitem__(n, fit(space, pool[:n], cfg, seed=1, init=first)[1])
        )
        # the encoder and the decoder run once a step; every batch is full
        assert len(sizes) == 2 * 25 and set(sizes) == {32}
    assert got[18]["steps"] == got[300]["steps"] == 25
    # 36 rows (18 archs and a symmetric variant of each) are 2 batches an epoch; 600 are 19
    assert got[18]["epochs"] == 13 and got[300]["epochs"] == 2
    # the fit still learns: it ranks its own pool better than chance
    assert got[300]["pairwise_accuracy"] > 0.6


def test_a_fit_by_epochs_is_unchanged_by_the_steps_mechanism() -> None:
    space, pool = get_space("enas"), toy_pool("enas", 50, seed=3)
    sizes = _training_batches(lambda: fit(space, pool, tiny("controller.epochs=3"), seed=0))
    assert sizes == [60, 60, 40, 40] * 3  # 100 rows an epoch: batches of 60 and 40, in both nets


def test_warm_steps_bound_the_warm_fits_and_their_pseudo_labels() -> None:
    from nao_kfp import rounds

    cfg = load_config("nb201", ["search.warm_steps=3", "search.warm_pseudo_labels=120"])
    warm = rounds.fit_settings(cfg, warm=True)
    assert warm.steps == 3 and rounds.fit_settings(cfg, warm=False).steps == 0
    space = get_space("nb201")
    pool = toy_pool("nb201", 200, seed=4)
    first, _ = fit(space, pool[:10], cfg.controller.__class__(**{**cfg.controller.__dict__,
                   "epochs": 2, "pseudo_epochs": 1, "pseudo_labels": 50}), seed=0)  # fmt: skip
    for n in (20, 200):
        sizes = _training_batches(lambda n=n: fit(space, pool[:n], warm, seed=1, init=first))
        # 3 steps on the evaluated cells, then the pseudo-label pass: its epoch over 120
        # pseudo-labels alone, ceil(120 / 50) = 3 steps, batches cut from labelled + pseudo
        assert sizes == [50] * 2 * 3 + [50] * 2 * 3, n


# ---------------------------------------------------------------- checkpoint


def test_checkpoint_round_trip_is_exact(tmp_path: Path) -> None:
    pool = toy_pool("enas", 30)
    model, _ = fit(get_space("enas"), pool, tiny("controller.epochs=3"), seed=2)
    model.save(tmp_path / "m")
    loaded = NAOModel.load(tmp_path / "m")
    archs = [e.arch for e in pool]
    assert loaded.predict(archs) == model.predict(archs)
    assert torch.equal(loaded.reconstruct(archs), model.reconstruct(archs))
    assert loaded.cfg == model.cfg and loaded.space is model.space
    summary = json.loads((tmp_path / "m" / "model.json").read_text())
    assert summary["space"] == "enas" and summary["config"]["hidden_size"] == 24
    assert summary["target_min"] == min(e.accuracy for e in pool)  # type: ignore[type-var]


def test_loading_a_bad_checkpoint_names_the_problem(tmp_path: Path) -> None:
    with pytest.raises(NaoError, match="no controller checkpoint"):
        NAOModel.load(tmp_path)
    torch.save({"format": "something-else"}, tmp_path / "model.pt")
    with pytest.raises(NaoError, match="format: expected nao-kfp-controller/1"):
        NAOModel.load(tmp_path)


def test_predict_accepts_native_strings() -> None:
    space = get_space("nb201")
    model = NAOModel(space, tiny())
    archs = space.sample_unique(3, random.Random(0))
    assert model.predict([space.to_string(a) for a in archs]) == model.predict(archs)
    assert model.predict([]) == []


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    space, pool = get_space("nb201"), toy_pool("nb201", 20)
    cfg = tiny("controller.epochs=3")
    a, _ = fit(space, pool, cfg, seed=7)
    b, _ = fit(space, pool, cfg, seed=7)
    c, _ = fit(space, pool, cfg, seed=8)
    sa, sb, sc = (m.net.state_dict() for m in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_symmetric_augmentation_only_uses_true_variants() -> None:
    from nao_kfp.controller.train import VARIANTS, _variant_table

    space = get_space("nasnet")
    archs = space.sample_unique(5, random.Random(0))
    table = _variant_table(space, archs, random.Random(0))
    assert table.shape == (5, VARIANTS, space.seq_len)
    for arch, rows in zip(archs, table.tolist(), strict=True):
        ids = {space.canonical_id(space.decode(r)) for r in rows}
        assert ids == {space.canonical_id(arch)}
        assert len({tuple(r) for r in itertools.chain(rows, [space.encode(arch)])}) > 2


def test_cosine_schedule_warms_up_then_decays_to_the_floor():
    from nao_kfp.controller.train import lr_at

    cfg = load_config(
        None,
        [
            "controller.lr_schedule=cosine",
            "controller.lr=0.01",
            "controller.epochs=10",
            "controller.warmup_epochs=2",
            "controller.lr_min_ratio=0.1",
        ],
    ).controller
    lr = lr_at(cfg, steps_per_epoch=5)
    assert lr is not None
    values = [lr(s) for s in range(50)]
    assert values[0] == pytest.approx(0.001)  # 1 of 10 warm-up steps
    assert values[9] == pytest.approx(0.01)  # warm-up reaches the peak
    after = values[10:]
    assert all(a >= b for a, b in zip(after, after[1:], strict=False))
    assert values[-1] == pytest.approx(0.001)  # lr * lr_min_ratio at the last step
    assert lr_at(load_config(None, []).controller, 5) is None  # constant: the optimizer's lr


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("controller.lr_schedule=step", "controller.lr_schedule.*'step'"),
        ("controller.lr_min_ratio=2", "controller.lr_min_ratio"),
    ],
)
def test_bad_schedule_settings_are_named(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_warmup_must_leave_epochs_to_decay():
    with pytest.raises(ConfigError, match="controller.warmup_epochs"):
        load_config(
            None,
            ["controller.lr_schedule=cosine", "controller.epochs=5", "controller.warmup_epochs=5"],
        )
