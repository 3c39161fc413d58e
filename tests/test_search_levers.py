"""The levers of issue 11, each behind a config key: ranking losses, predictor ensembles,
SemiNAS pseudo-labels, beam decoding, ranked candidate selection, random exploration."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from controller_toy import tiny, toy_pool

from nao_kfp import rounds
from nao_kfp.config import load_config
from nao_kfp.controller import (
    NAOModel,
    decode_candidates,
    eta_ladder,
    fit,
    optimize_embeddings,
    pairwise_accuracy,
)
from nao_kfp.controller.train import predictor_loss
from nao_kfp.errors import ConfigError
from nao_kfp.evaluators import TableEvaluator
from nao_kfp.pool import entry
from nao_kfp.spaces import get_space
from nao_kfp.strategies import make_strategy
from nao_kfp.tabular import TableSpec, generate_table

NB201 = get_space("nb201")
TABLE = generate_table(NB201, TableSpec(seed=11, rows=1200))


# ---------------------------------------------------------------- the predictor's loss


def test_ranking_losses_are_zero_for_the_right_order_and_positive_for_the_wrong_one() -> None:
    cfg = tiny("controller.rank_loss=hinge", "controller.rank_margin=0.1")
    target = torch.tensor([0.1, 0.5, 0.9])
    right = torch.tensor([[-3.0, 0.0, 3.0]])  # sigmoid: 0.05, 0.5, 0.95: gaps above the margin
    _, hinge_right = predictor_loss(right, target, cfg)
    _, hinge_wrong = predictor_loss(-right, target, cfg)
    assert hinge_right.item() == 0.0 and hinge_wrong.item() > 0.1
    listwise = tiny("controller.rank_loss=listwise")
    _, lw_right = predictor_loss(right * 5, target, listwise)
    _, lw_wrong = predictor_loss(-right * 5, target, listwise)
    assert lw_right.item() < 0.01 < lw_wrong.item()
    # ties carry no order: a hinge over tied targets has no pair to rank
    _, tied = predictor_loss(-right, torch.full((3,), 0.5), cfg)
    assert tied.item() == 0.0


def test_bootstrap_weights_change_the_mse_only_through_the_rows_they_weigh() -> None:
    cfg = tiny()
    logits, target = torch.tensor([[0.0, 0.0]]), torch.tensor([0.5, 1.0])
    plain, _ = predictor_loss(logits, target, cfg)
    assert plain.item() == pytest.approx(0.125)  # ((0.5 - 0.5)^2 + (0.5 - 1)^2) / 2
    first_only, _ = predictor_loss(logits, target, cfg, torch.tensor([[1.0, 0.0]]))
    assert first_only.item() == 0.0


@pytest.mark.parametrize("loss", ["hinge", "listwise"])
def test_a_ranking_loss_alone_still_learns_to_rank(loss: str) -> None:
    pool = toy_pool("nb201", 80, seed=2)
    train, held = pool[:60], pool[60:]
    cfg = tiny(f"controller.rank_loss={loss}", "controller.rank_weight=1.0")
    model, m = fit(NB201, train, cfg, seed=0, eval_set=held)
    assert m["pairwise_accuracy"] > 0.7


# ---------------------------------------------------------------- ensemble and SemiNAS


def test_an_ensemble_has_distinct_heads_whose_mean_is_f_and_a_one_head_model_is_unchanged(
    tmp_path,
) -> None:
    pool = toy_pool("nb201", 40, seed=4)
    model, _ = fit(NB201, pool, tiny("controller.ensemble=3", "controller.epochs=20"), seed=0)
    states = model.net.encode(model.tokens([e.arch for e in pool]))
    heads = model.net.predict_heads(states)
    assert heads.shape == (3, 40) and not torch.allclose(heads[0], heads[1])
    assert torch.allclose(model.net.predict(states), heads.mean(dim=0))
    archs = [e.arch for e in pool]
    assert model.score(archs) == pytest.approx(model.predict(archs), abs=1e-6)
    spread = [b - a for a, b in zip(model.score(archs), model.score(archs, 1.0), strict=True)]
    assert all(d >= 0 for d in spread) and max(d for d in spread) > 0
    model.save(tmp_path / "m")
    assert NAOModel.load(tmp_path / "m").predict(archs) == model.predict(archs)
    # one head: the state dict has the paper's keys only
    single = NAOModel(NB201, tiny())
    assert not any(k.startswith("more_heads") for k in single.net.state_dict())


def test_pseudo_labels_train_on_unseen_random_archs_too() -> None:
    pool = toy_pool("nb201", 20, seed=5)
    cfg = tiny("controller.epochs=5", "controller.pseudo_labels=50", "controller.pseudo_epochs=2")
    model, m = fit(NB201, pool, cfg, seed=0)
    assert m["pseudo"] == 50
    again, _ = fit(NB201, pool, cfg, seed=0)
    archs = [e.arch for e in pool]
    assert model.predict(archs) == again.predict(archs)  # seeded
    plain, m0 = fit(NB201, pool, tiny("controller.epochs=5"), seed=0)
    assert "pseudo" not in m0 and plain.predict(archs) != model.predict(archs)


def test_warm_fits_get_their_own_pseudo_label_epochs() -> None:
    cfg = load_config(
        "nb201", ["controller.pseudo_labels=100", "controller.pseudo_epochs=7",
                  "search.warm_epochs=3", "search.warm_pseudo_labels=40",
                  "search.warm_pseudo_epochs=1"],
    )  # fmt: skip
    cold, warm = rounds.fit_settings(cfg, warm=False), rounds.fit_settings(cfg, warm=True)
    assert (cold.epochs, cold.pseudo_labels, cold.pseudo_epochs) == (cfg.controller.epochs, 100, 7)
    assert (warm.epochs, warm.pseudo_labels, warm.pseudo_epochs) == (3, 40, 1)


def test_a_predictor_only_fit_leaves_encoder_and_decoder_as_they_were() -> None:
    pool = toy_pool("nb201", 40, seed=9)
    first, _ = fit(NB201, pool[:20], tiny("controller.epochs=10"), seed=0)
    cfg = tiny("controller.epochs=30", "controller.predictor_only=true", "controller.ensemble=1")
    warm, m = fit(NB201, pool, cfg, seed=1, init=first)
    assert m["predictor_only"] and m["epochs"] == 30
    before, after = first.net.state_dict(), warm.net.state_dict()
    for key in before:
        same = torch.equal(before[key], after[key])
        assert same != key.startswith("mlp."), key  # only the head moved
    held = pool[20:]
    archs, accs = [e.arch for e in held], [e.accuracy for e in held]
    assert pairwise_accuracy(warm.predict(archs), accs) > 0.6  # type: ignore[arg-type]


def test_warm_predictor_only_is_set_for_warm_fits_only() -> None:
    cfg = load_config("nb201", ["search.warm_predictor_only=true"])
    assert not rounds.fit_settings(cfg, warm=False).predictor_only
    assert rounds.fit_settings(cfg, warm=True).predictor_only


# ---------------------------------------------------------------- decoding candidates


def test_beam_search_returns_the_most_likely_sequences_best_first() -> None:
    torch.manual_seed(0)
    model = NAOModel(NB201, tiny())
    model.net.eval()
    states = F.normalize(torch.randn(2, NB201.seq_len, model.cfg.hidden_size), dim=-1)
    every = torch.tensor(list(itertools.product(range(NB201.vocab_size), repeat=NB201.seq_len)))
    beams = model.net.beam(states, 4)
    assert beams.shape == (2, 4, NB201.seq_len)
    assert torch.equal(model.net.beam(states, 1)[:, 0], model.net.greedy(states))
    for i in range(2):
        with torch.no_grad():
            logits = model.net.decode_logits(states[i : i + 1].expand(len(every), -1, -1), every)
        logp = torch.log_softmax(logits, -1).gather(2, every.unsqueeze(-1)).sum((1, 2))
        assert beams[i].tolist() == every[logp.topk(4).indices].tolist()


def test_decode_candidates_are_distinct_unseen_and_cover_every_step_and_beam() -> None:
    pool = toy_pool("nb201", 40, seed=6)
    model, _ = fit(NB201, pool, tiny("controller.epochs=20"), seed=0)
    emb = optimize_embeddings(model, pool, top_k=5)
    known = {e.id for e in pool}
    etas = eta_ladder(0.5, 2.0, 8.0)
    assert etas == [0.5, 1.0, 2.0, 4.0, 8.0]
    greedy = decode_candidates(model, emb, etas=etas, known_ids=known)
    wide = decode_candidates(model, emb, etas=etas, known_ids=known, beam=6)
    for got in (greedy, wide):
        ids = [e.id for e in got]
        assert len(ids) == len(set(ids)) and known.isdisjoint(ids)
        assert all(e.source == "nao" and e.eta in etas and e.seed_arch in emb.seeds for e in got)
    assert len(wide) > len(greedy) and {e.id for e in greedy} <= {e.id for e in wide}


# ---------------------------------------------------------------- a round's choice


def _round_inputs(*overrides: str):
    cfg = load_config("nb201", ["search.initial_archs=30", "search.top_k=5", *overrides])
    rows = TABLE.rows[:30]
    pool = [entry(NB201, r.arch, accuracy=r.valid / 100, round=1) for r in rows]
    model, _ = fit(NB201, pool, tiny("controller.epochs=20"), seed=0)
    emb = optimize_embeddings(model, pool, top_k=5)
    return cfg, model, emb, pool, TableEvaluator(cfg, table=TABLE)


def test_predicted_selection_queries_the_candidates_f_ranks_highest() -> None:
    cfg, model, emb, pool, ev = _round_inputs(
        "search.select=predicted", "search.beam=4", "search.new_archs=3"
    )
    known = {e.id for e in pool}
    ranked = rounds.ranked(cfg, model, emb, known, ev, rounds.rng_for(cfg, "propose", 1))
    scores = [e.predicted for e in ranked]
    assert scores == sorted(scores, reverse=True) and len(ranked) > 3
    new = rounds.propose(cfg, model, emb, pool, ev, 1)
    assert [e.id for e in new] == [e.id for e in ranked[:3]]
    # 1200 of 15625 cells: most decoded cells stand in for their nearest row
    assert all(e.round == 2 and e.source in ("nao", "nao-nearest") for e in new)


def test_search_candidates_widens_the_beam_until_enough_are_found() -> None:
    one, model, emb, pool, ev = _round_inputs("search.select=predicted", "search.beam=1")
    rng = rounds.rng_for(one, "propose", 1)
    few = rounds.ranked(one, model, emb, {e.id for e in pool}, ev, rng)
    many_cfg = load_config(None, ["search.space=nb201", "search.initial_archs=30", "search.top_k=5",
                                  "search.select=predicted", "search.beam=1", "search.candidates=60"])  # fmt: skip
    rng = rounds.rng_for(many_cfg, "propose", 1)
    many = rounds.ranked(many_cfg, model, emb, {e.id for e in pool}, ev, rng)
    assert len(few) < 60 <= len(many)
    assert len({e.id for e in many}) == len(many)


def test_mutations_rank_one_step_neighbours_of_the_seeds_beside_the_decoded_cells() -> None:
    args = ("search.select=predicted", "search.beam=2", "search.new_archs=4")
    cfg, model, emb, pool, ev = _round_inputs(*args)
    with_mut, *_ = _round_inputs(*args, "search.mutations=6")
    known = {e.id for e in pool}
    plain = rounds.ranked(cfg, model, emb, known, ev, rounds.rng_for(cfg, "propose", 1))
    ranked = rounds.ranked(with_mut, model, emb, known, ev, rounds.rng_for(cfg, "propose", 1))
    mutated = [e for e in ranked if e.source == "mutation"]
    # the mutations in this sampled table (the others stand in for their nearest row)
    assert mutated and {e.seed_arch for e in mutated} <= set(emb.seeds)
    for e in mutated:
        seed = NB201.encode(NB201.parse(e.seed_arch or ""))
        assert sum(a != b for a, b in zip(seed, NB201.encode(e.arch), strict=True)) == 1
    assert [e.predicted for e in ranked] == sorted((e.predicted for e in ranked), reverse=True)
    assert {e.id for e in plain} < {e.id for e in ranked} and known.isdisjoint(e.id for e in ranked)


def test_random_share_puts_random_archs_after_the_decoded_ones() -> None:
    cfg, model, emb, pool, ev = _round_inputs(
        "search.select=predicted", "search.new_archs=10", "search.random_share=0.5"
    )
    new = rounds.propose(cfg, model, emb, pool, ev, 1)
    sources = [e.source for e in new]
    n = sources.count("explore")
    assert len(new) == 10 and 0 < n < 10 and sources[-n:] == ["explore"] * n
    assert len({e.id for e in new}) == 10 and {e.id for e in pool}.isdisjoint(e.id for e in new)


def _lever_nao(*overrides: str):
    cfg = load_config(
        "nb201",
        ["search.initial_archs=8", "search.top_k=4", "search.new_archs=3",
         "controller.epochs=5", "search.warm_epochs=2", "search.select=predicted",
         "search.beam=3", "controller.ensemble=2", "search.explore=0.5",
         "controller.rank_loss=hinge", "controller.pseudo_labels=30",
         "controller.pseudo_epochs=1", "search.random_share=0.2", *overrides],
    )  # fmt: skip
    return make_strategy("nao", cfg)


def test_every_lever_at_once_is_deterministic_and_anytime() -> None:
    a = _lever_nao().run(TABLE, 20, seed=5)
    assert len({q.id for q in a}) == 20
    assert _lever_nao().run(TABLE, 20, seed=5) == a
    assert _lever_nao().run(TABLE, 14, seed=5) == a[:14]
    assert {q.source for q in a[8:]} <= {"nao", "nao-nearest", "explore", "random-fill"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["search.select=best"], "search.select: expected one of first, predicted, got 'best'"),
        (["search.beam=0"], "search.beam: expected at least 1, got 0"),
        (["search.random_share=1.5"], "search.random_share: expected at most 1.0, got 1.5"),
        (
            ["search.explore=1"],
            "search.explore: 1.0 needs the spread of controller.ensemble >= 2 heads, got 1",
        ),
        (
            ["controller.rank_loss=lambda"],
            "controller.rank_loss: expected one of none, hinge, listwise, got 'lambda'",
        ),
        (
            ["controller.rank_weight=2"],
            "controller.rank_weight: expected at most 1.0, got 2.0",
        ),
        (["controller.ensemble=0"], "controller.ensemble: expected at least 1, got 0"),
        (
            ["controller.pseudo_labels=-1"],
            "controller.pseudo_labels: expected at least 0, got -1",
        ),
        (
            ["search.warm_pseudo_epochs=-1"],
            "search.warm_pseudo_epochs: expected at least 0, got -1",
        ),
    ],
)
def test_bad_lever_settings_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config("nb201", overrides)
    assert str(err.value) == message


def test_pairwise_accuracy_of_a_fitted_ensemble_beats_chance() -> None:
    pool = toy_pool("nb201", 90, seed=8)
    model, _ = fit(NB201, pool[:60], tiny("controller.ensemble=3"), seed=1)
    held = pool[60:]
    assert (
        pairwise_accuracy(model.predict([e.arch for e in held]), [e.accuracy for e in held]) > 0.7
    )  # type: ignore[misc]
