"""Embedding optimization and decoding of new architectures; the `nao controller` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from controller_toy import tiny, toy_pool

from nao_kfp.cli import main
from nao_kfp.controller import Embeddings, NAOModel, decode_new, fit, optimize_embeddings
from nao_kfp.pool import read_pool, write_pool
from nao_kfp.spaces import get_space

SPACE = "enas"
ETA = {"eta": 1.0, "eta_growth": 2.0, "eta_max": 1000.0}


def propose(model: NAOModel, pool: list, *, top_k: int, count: int, **eta: float) -> list:
    """The top-K seeds moved and decoded, never an architecture of the pool."""
    emb = optimize_embeddings(model, pool, top_k=top_k)
    return decode_new(model, emb, count=count, known_ids={e.id for e in pool}, **eta)


@pytest.fixture(scope="module")
def fitted() -> tuple[NAOModel, list]:
    pool = toy_pool(SPACE, 80, seed=3)
    model, _ = fit(get_space(SPACE), pool, tiny("controller.epochs=30"), seed=0)
    return model, pool


def test_the_gradient_step_raises_f_for_every_seed(fitted: tuple[NAOModel, list]) -> None:
    model, pool = fitted
    emb = optimize_embeddings(model, pool, top_k=10)
    # seeds are the top-10 by accuracy, best first
    best = sorted(pool, key=lambda e: -e.accuracy)[:10]
    assert emb.seed_ids == [e.id for e in best] and emb.h.shape[0] == 10
    with torch.no_grad():
        before = model.net.predict(emb.h)
        after = model.net.predict(F.normalize(emb.h + 0.5 * emb.grad, dim=-1))
    assert bool((after > before).all())
    assert emb.f_before == pytest.approx(model.predict([e.arch for e in best]), abs=1e-6)


def test_decode_new_never_returns_a_known_or_repeated_arch(fitted: tuple[NAOModel, list]) -> None:
    model, pool = fitted
    emb = optimize_embeddings(model, pool, top_k=10)
    known = {e.id for e in pool}
    new = decode_new(model, emb, count=15, known_ids=known, **ETA)
    ids = [e.id for e in new]
    assert len(new) == 15  # more than the 10 seeds: larger steps give more
    assert len(set(ids)) == len(ids) and known.isdisjoint(ids)
    seeds = {get_space(SPACE).to_string(e.arch) for e in pool}
    for e in new:
        assert e.status == "pending" and e.accuracy is None
        assert e.source == "nao" and e.seed_arch in seeds
        assert ETA["eta"] <= e.eta <= ETA["eta_max"]
        assert e.predicted_before is not None and e.predicted is not None
    # predicted_after is f of the re-encoded new arch, in accuracy units
    assert [e.predicted for e in new] == model.predict([e.arch for e in new])


def test_a_known_decoding_grows_eta_from_the_original_embedding(
    fitted: tuple[NAOModel, list],
) -> None:
    model, pool = fitted
    emb = optimize_embeddings(model, pool, top_k=3)
    first = decode_new(model, emb, count=3, known_ids=set(), **ETA)
    # forbid what the first call found: each seed must go further (a larger eta) to find another
    again = decode_new(model, emb, count=3, known_ids={e.id for e in first}, **ETA)
    assert {e.id for e in again}.isdisjoint(e.id for e in first)
    assert max(e.eta for e in again) > min(e.eta for e in first)
    # a cap that is too small returns fewer than asked, never a duplicate
    few = decode_new(model, emb, count=50, known_ids=set(), eta=1.0, eta_growth=2.0, eta_max=2.0)
    assert len(few) <= 2 * 3 and len({e.id for e in few}) == len(few)


def test_embeddings_file_round_trip_and_same_seed_same_proposals(
    fitted: tuple[NAOModel, list], tmp_path: Path
) -> None:
    model, pool = fitted
    emb = optimize_embeddings(model, pool, top_k=5)
    emb.save(tmp_path / "emb.pt")
    back = Embeddings.load(tmp_path / "emb.pt")
    assert torch.equal(back.h, emb.h) and torch.equal(back.grad, emb.grad)
    assert back.seeds == emb.seeds and back.f_before == emb.f_before
    kw = {"top_k": 5, "count": 6, **ETA}
    a = [e.to_record() for e in propose(model, pool, **kw)]
    b = [e.to_record() for e in propose(model, pool, **kw)]
    assert a == b
    # and a controller trained again with the same seed proposes the same archs
    again, _ = fit(get_space(SPACE), pool, tiny("controller.epochs=30"), seed=0)
    assert [e.to_record() for e in propose(again, pool, **kw)] == a


# ---------------------------------------------------------------- CLI


def _nao(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nao_kfp.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_fit_and_propose(tmp_path: Path) -> None:
    pool = toy_pool(SPACE, 40, seed=4)
    write_pool(tmp_path / "train.jsonl", pool[:30])
    write_pool(tmp_path / "eval.jsonl", pool[30:])
    tiny_sets = [
        x for o in ("controller.epochs=5", "controller.hidden_size=16") for x in ("--set", o)
    ]
    r = _nao("controller", "fit", "--space", SPACE, "--train", str(tmp_path / "train.jsonl"),
             "--eval", str(tmp_path / "eval.jsonl"), "--seed", "1", "--out", str(tmp_path / "m"),
             "--set", "controller.embedding_size=8", *tiny_sets)  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["n_train"] == 30 and out["n_eval"] == 10 and out["epochs"] == 5
    assert 0.0 <= out["pairwise_accuracy"] <= 1.0 and 0.0 <= out["hamming"] <= 40
    assert out["seconds"] > 0 and (tmp_path / "m" / "model.pt").exists()

    r = _nao("controller", "propose", "--model", str(tmp_path / "m"), "--pool",
             str(tmp_path / "train.jsonl"), "--seeds", "4", "--count", "3", "--eta", "5",
             "--out", str(tmp_path / "new.jsonl"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    new = read_pool(tmp_path / "new.jsonl")
    assert summary["count"] == len(new) == 3
    assert {e.id for e in new}.isdisjoint(e.id for e in pool[:30])


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_pool(tmp_path / "one.jsonl", toy_pool(SPACE, 1))
    r = _nao("controller", "fit", "--space", SPACE, "--train", str(tmp_path / "one.jsonl"),
             "--out", str(tmp_path / "m"))  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "needs at least 2 evaluated architectures" in r.stderr.strip().splitlines()[-1]
    # the same path in-process (a subprocess per case costs a torch import)
    argv = ["controller", "propose", "--model", str(tmp_path / "none"), "--pool",
            str(tmp_path / "one.jsonl"), "--out", str(tmp_path / "n.jsonl")]  # fmt: skip
    assert main(argv) == 2
    assert "no controller checkpoint" in capsys.readouterr().err
