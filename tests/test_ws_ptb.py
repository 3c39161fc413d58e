"""NAO-WS for the recurrent cell (enas-rnn) on a tiny generated Penn Treebank-format corpus:
the recurrent supernet trains, resumes and scores cells by perplexity, and a weight-sharing
search through kfp.local reports perplexity as perplexity (lower is better) everywhere."""

from __future__ import annotations

import io
import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from nao_kfp.pipelines.local import run_local

from nao_kfp.child.data import load_corpus, load_data
from nao_kfp.child.rnn_supernet_train import score_perplexities
from nao_kfp.child.supernet_train import train_supernet
from nao_kfp.config import load_config
from nao_kfp.errors import ConfigError
from nao_kfp.metric import Metric
from nao_kfp.spaces import get_space

SPACE = get_space("enas-rnn")
WORDS = [f"w{i}" for i in range(200)]
ZIPF = [1 / (i + 1) for i in range(len(WORDS))]


def write_corpus(folder: Path, tokens: int = 3000, seed: int = 0) -> Path:
    """ptb.{train,valid,test}.txt of `tokens` training words: sentences that walk the vocabulary
    in steps of 3 from a word drawn by Zipf's law, with Zipf-drawn words in between (as in
    text, a model soon beats a uniform guess by far)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", tokens), ("valid", tokens // 3), ("test", tokens // 4)):
        lines, left = [], n
        while left > 0:
            k, (a,) = rng.randint(4, 10), rng.choices(range(len(WORDS)), ZIPF)
            walk = [WORDS[(a + 3 * j) % len(WORDS)] for j in range(k)]
            noise = rng.choices(WORDS, ZIPF, k=k)
            lines.append(
                " ".join(w if rng.random() < 0.7 else x for w, x in zip(walk, noise, strict=True))
            )
            left -= k + 1
        (folder / f"ptb.{name}.txt").write_text("\n".join(lines) + "\n")
    return folder


TINY = [
    "name=tiny-ws-ptb", "evaluator.kind=supernet", "search.shards=1", "search.rounds=2",
    "search.initial_archs=6", "search.top_k=3", "search.new_archs=3", "controller.epochs=30",
    "supernet.channels=16", "supernet.epochs=2", "supernet.rounds_every=1",
    "supernet.batch_size=8", "supernet.eval_batch_size=4", "supernet.dev_batches=3",
    "supernet.lr_max=20", "supernet.lr_min=20", "supernet.momentum=0", "supernet.grad_clip=0.25",
    "supernet.rerank_top=2", "supernet.rerank_epochs=1", "child.epochs=1", "child.batch_size=8",
    "child.lr_max=20", "child.lr_min=20", "child.device=cpu", "child.cpu_threads=1",
    "child.rnn.embedding_size=16", "child.rnn.hidden_size=16", "child.rnn.bptt=10",
    "child.rnn.eval_batch_size=4", "child.rnn.dropout=0.1", "child.rnn.dropout_x=0.1",
    "child.rnn.dropout_h=0", "child.rnn.dropout_i=0", "cluster.parallelism=1",
]  # fmt: skip


def tiny(tmp_path: Path, *more: str):  # type: ignore[no-untyped-def]
    corpus = write_corpus(tmp_path / "corpus")
    return load_config("nao-ws-ptb", [*TINY, f"child.data_dir={corpus}", *more])


def test_the_presets_load_and_the_cpu_one_is_small() -> None:
    gpu, cpu = load_config("nao-ws-ptb"), load_config("nao-ws-ptb-cpu")
    for cfg in (gpu, cpu):
        assert cfg.evaluator.kind == "supernet" and cfg.search.space == "enas-rnn"
        assert cfg.supernet.grad_clip == 0.25 and len(cfg.supernet.schedule()) == cfg.search.rounds
    assert cpu.supernet.channels == cpu.child.rnn.hidden_size  # the re-rank trains it alone
    assert cpu.child.device == "cpu" and cpu.child.train_subset > 0


def test_resuming_the_recurrent_supernet_gives_bitwise_the_same_weights(tmp_path: Path) -> None:
    cfg = tiny(tmp_path, "supernet.epochs=3", "supernet.rounds_every=3", "search.rounds=1")
    data = load_data(cfg)
    archs = SPACE.sample_unique(4, random.Random(0))
    whole = train_supernet(SPACE, cfg, archs, data, tmp_path / "a", epochs_to=3, seed=1)
    train_supernet(SPACE, cfg, archs, data, tmp_path / "b", epochs_to=1, seed=1)
    lines: list[str] = []
    again = train_supernet(
        SPACE, cfg, archs, data, tmp_path / "b", epochs_to=3, seed=1, log=lines.append
    )
    assert "supernet: resuming at epoch 2" in lines[0]
    assert [h["loss"] for h in again["history"]] == [h["loss"] for h in whole["history"]]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # history records perplexity, never an accuracy; training lowered it
    assert "train_accuracy" not in whole["history"][0]
    assert whole["history"][-1]["perplexity"] < whole["history"][0]["perplexity"]
    with pytest.raises(
        ConfigError, match=r"^supernet.channels: the supernet in .* channels=16, not 8"
    ):
        other = tiny(
            tmp_path,
            "supernet.epochs=3",
            "supernet.rounds_every=3",
            "search.rounds=1",
            "supernet.channels=8",
        )
        train_supernet(SPACE, other, archs, load_data(other), tmp_path / "a", epochs_to=3, seed=1)


def test_a_cells_score_is_its_perplexity_on_fixed_validation_windows(tmp_path: Path) -> None:
    from nao_kfp.child.rnn import RnnSpec, RnnSupernet

    cfg = tiny(tmp_path)
    corpus = load_corpus(cfg.child, cfg.supernet)
    archs = SPACE.sample_unique(3, random.Random(2))
    train_supernet(SPACE, cfg, archs, corpus, tmp_path / "w", epochs_to=1, seed=0)
    got = score_perplexities(SPACE, cfg, archs, corpus, tmp_path / "w")
    saved = torch.load(tmp_path / "w" / "checkpoint.pt", weights_only=True)
    net = RnnSupernet(SPACE.nodes, RnnSpec(**saved["identity"]["spec"]))  # type: ignore[attr-defined]
    net.load_state_dict(saved["model"])
    alone = net.standalone(archs[1]).eval()
    bptt, n = cfg.child.rnn.bptt, cfg.supernet.dev_batches
    x, y = corpus.valid[: n * bptt], corpus.valid[1 : n * bptt + 1]
    with torch.no_grad():
        logits, _ = alone(x, alone.init_hidden(x.size(1)))
    want = math.exp(float(F.cross_entropy(logits.flatten(0, 1), y.flatten())))
    assert got[1] == pytest.approx(want, rel=1e-5)
    assert got == score_perplexities(SPACE, cfg, archs, corpus, tmp_path / "w")  # fixed batches
    with pytest.raises(ConfigError, match=r"^supernet.dev_batches: 999 windows of child.rnn.bptt"):
        score_perplexities(SPACE, tiny(tmp_path, "supernet.dev_batches=999"), archs, corpus,
                           tmp_path / "w")  # fmt: skip


def _metrics(run: Path) -> dict[str, float]:
    logged: dict[str, float] = {}
    for path in (run / "kfp").rglob("executor_output.json"):
        out = json.loads(path.read_text()).get("artifacts", {}).get("metrics", {})
        for art in out.get("artifacts", []):
            logged.update(art.get("metadata", {}))
    return logged


@pytest.mark.slow
def test_a_tiny_ws_ptb_search_through_kfp_local_reports_perplexity(tmp_path: Path) -> None:
    cfg = tiny(tmp_path)
    shown = io.StringIO()
    result = run_local(cfg, tmp_path / "run", show=shown)
    pool = [json.loads(x) for x in (tmp_path / "run" / "pool.jsonl").read_text().splitlines()]
    assert len(pool) == 6 + 3 and all(e["status"] == "ok" for e in pool)
    assert {e["supernet_epoch"] for e in pool} == {2}  # the whole pool re-scored in round 2

    # result.json: the scores the search ranked by, and the metric that reads them as
    # perplexities (lower is better; a score clipped at 0 stands for the vocabulary's size)
    assert result["metric"] == {"name": "perplexity", "vocab": pool[0]["vocab"]}
    metric = Metric(**result["metric"])
    for e in pool:
        assert metric.value(e["accuracy"]) == pytest.approx(min(e["dev_perplexity"], metric.vocab))
    rerank = result["rerank"]
    # the re-rank retrained the supernet's two best scores (lowest perplexities) ...
    scores = sorted((e["accuracy"] for e in pool), reverse=True)
    assert sorted((r["supernet_score"] for r in rerank), reverse=True) == scores[:2]
    assert all("supernet_accuracy" not in r for r in rerank)
    # ... and the winner is the best score (lowest perplexity) after that training
    best = result["best"]
    assert best["dev_accuracy"] == max(r["dev_accuracy"] for r in rerank)
    assert best["id"] == max(rerank, key=lambda r: r["dev_accuracy"])["id"]
    assert metric.value(best["test_accuracy"]) > 1
    last = result["rounds"][-1]  # scored with the final weights, as the pool is
    assert last["best_accuracy"] == max(e["accuracy"] for e in pool if e["round"] == 2)
    for rec in result["rounds"]:
        assert "train_accuracy" not in rec["supernet"] and rec["supernet"]["perplexity"] > 1

    # progress lines: perplexities, never an accuracy
    lines = shown.getvalue().splitlines()
    assert any(
        "] round 1/2: supernet epoch 1/2 loss " in line and " ppl " in line
        and "s/epoch  (left: round" in line
        for line in lines
    ), lines  # fmt: skip
    assert any("] round 2/2: scoring with the supernet 9/9" in line for line in lines)
    assert any("] round 2/2: 3 archs evaluated, best dev ppl " in line for line in lines)
    assert any("] select: re-ranked 2/2 (dev ppl " in line for line in lines)
    assert not [line for line in lines if "accuracy" in line or "%" in line]

    # the report: perplexity columns, lower is better
    report = (tmp_path / "run" / "report.md").read_text()
    assert f"dev perplexity {metric.text(best['dev_accuracy'])}" in report
    assert "best dev ppl" in report and "supernet train ppl" in report
    assert "dev acc" not in report and "train acc" not in report

    # KFP Metrics: perplexities; the only accuracy is the predictor's pairwise one
    logged = _metrics(tmp_path / "run")
    assert logged["best_dev_perplexity"] == pytest.approx(metric.value(best["dev_accuracy"]))
    assert {
        "round1/best_perplexity",
        "round2/mean_perplexity",
        "round2/supernet/perplexity",
    } <= set(logged)
    assert [
        k for k in logged if "accuracy" in k and "pairwise" not in k or "best_so_far" in k
    ] == []


def test_a_cell_whose_state_diverges_fails_and_never_writes_a_nan(tmp_path: Path) -> None:
    from nao_kfp.child.rnn import SharedEnasCell
    from nao_kfp.evaluators.supernet import SupernetEvaluator
    from nao_kfp.pool import entry

    cfg = tiny(tmp_path)
    ev = SupernetEvaluator(cfg, tmp_path / "w")
    archs = SPACE.sample_unique(2, random.Random(4))
    ev.train_to(1, archs, data_dir=None, log=None)

    def wires(arch):  # type: ignore[no-untyped-def]
        return {SharedEnasCell.pair_index(i, p) for i, (p, _a) in enumerate(arch.nodes[1:], 2)}

    broken = min(wires(archs[0]) - wires(archs[1]))  # a wire only the first cell draws
    ckpt = tmp_path / "w" / "checkpoint.pt"
    saved = torch.load(ckpt, weights_only=True)
    saved["model"][f"cell.ws.{broken}"].fill_(math.nan)
    torch.save(saved, ckpt)
    ev.epoch = None  # score with the checkpoint
    done = ev.evaluate([entry(SPACE, a, round=1, source="random") for a in archs])
    assert [e.status for e in done] == ["failed", "ok"]
    assert "state diverged" in (done[0].error or "") and done[0].accuracy is None
    assert math.isfinite(done[1].extra["dev_perplexity"])


def test_the_ptb_ws_preset_compiles_to_the_one_pipeline(tmp_path: Path) -> None:
    from nao_kfp.cli import main

    assert main(["compile", "--config", "nao-ws-ptb", "-o", str(tmp_path / "ws.yaml")]) == 0
    text = (tmp_path / "ws.yaml").read_text()
    assert "supernet-round" in text and "train-children" not in text and "nvidia.com/gpu" in text


def test_a_rerank_run_that_diverges_ranks_last_instead_of_failing_the_selection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nao_kfp.child
    from nao_kfp.child.runtime import ChildDiverged
    from nao_kfp.final import best_of, rerank
    from nao_kfp.store import LocalStore

    cfg = tiny(tmp_path)
    archs = SPACE.sample_unique(2, random.Random(6))
    real = nao_kfp.child.train_child

    def train_child(space, arch, *args, **kwargs):  # type: ignore[no-untyped-def]
        if arch == archs[0]:  # relu chains at lr 20 do this on PTB
            raise ChildDiverged("child: training loss is nan in epoch 1; the network diverged")
        return real(space, arch, *args, **kwargs)

    monkeypatch.setattr(nao_kfp.child, "train_child", train_child)
    recipe = cfg.child
    out = rerank(SPACE, archs, recipe, tmp_path / "r", seed=0, store=LocalStore(tmp_path / "s"))
    assert out[0].dev_accuracy == 0.0 and "diverged" in out[0].diverged
    assert out[0].test_accuracy is None and (out[1].dev_accuracy or 0.0) > 0.0
    assert best_of(out) == 1
