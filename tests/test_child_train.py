"""Training children: digits learns, resume is exact, data staging, the RNN language model."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from nao_kfp.child import prepare_data, train_child
from nao_kfp.child.data import augment, staged_file
from nao_kfp.config import ChildConfig, load_config
from nao_kfp.errors import ConfigError
from nao_kfp.metric import perplexity_score
from nao_kfp.spaces import get_space

# small and single-threaded: the CI machine has 2 shared cores
DIGITS = [
    "child.dataset=digits", "child.dev_size=300", "child.train_subset=600", "child.layers=1",
    "child.channels=8", "child.batch_size=32", "child.lr_max=0.1", "child.device=cpu",
    "child.amp=false", "child.cpu_threads=1",
]  # fmt: skip


def child_cfg(*extra: str) -> ChildConfig:
    return load_config(None, [*DIGITS, *extra]).child


def enas_arch(seed: int = 0) -> object:
    return get_space("enas").sample_unique(1, random.Random(seed))[0]


def test_digits_child_learns_well_above_chance(tmp_path: Path) -> None:
    space = get_space("enas")
    result = train_child(space, enas_arch(), child_cfg("child.epochs=3"), tmp_path, seed=0)
    assert result.dev_accuracy > 0.5  # chance is 0.1
    assert result.best_dev_accuracy >= result.dev_accuracy
    assert result.dev_size == 300 and result.train_size == 600
    assert result.params > 0 and result.macs > 0 and result.seconds > 0
    assert json.loads((tmp_path / "result.json").read_text()) == result.to_json()
    # a finished child is not trained again
    assert train_child(space, enas_arch(), child_cfg("child.epochs=3"), tmp_path, seed=0) == result


def test_resume_from_a_mid_training_checkpoint_gives_the_same_weights(tmp_path: Path) -> None:
    space, arch = get_space("enas"), enas_arch(1)
    cfg = child_cfg(
        "child.epochs=3", "child.train_subset=256", "child.drop_path=0.2", "child.cutout=3"
    )
    saved: list[Path] = []
    train_child(space, arch, cfg, tmp_path / "a", seed=7, on_checkpoint=saved.append)
    assert len(saved) == 3

    class Killed(Exception):
        pass

    def kill_after_first(path: Path) -> None:
        raise Killed

    with pytest.raises(Killed):
        train_child(space, arch, cfg, tmp_path / "b", seed=7, on_checkpoint=kill_after_first)
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    lines: list[str] = []
    result_b = train_child(space, arch, cfg, tmp_path / "b", seed=7, log=lines.append)
    assert any("resuming at epoch 2" in line for line in lines)
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    result_a = json.loads((tmp_path / "a" / "result.json").read_text())
    assert result_b.dev_accuracy == result_a["dev_accuracy"]


def test_dev_set_larger_than_the_training_set_is_a_clear_error(tmp_path: Path) -> None:
    cfg = ChildConfig(dataset="digits", dev_size=1500, layers=1, channels=4, epochs=1, device="cpu")
    with pytest.raises(ConfigError, match="child.dev_size"):
        train_child(get_space("enas"), enas_arch(), cfg, tmp_path, seed=0)


def test_prepare_data_stages_digits_once(tmp_path: Path) -> None:
    out = prepare_data(ChildConfig(dataset="digits"), tmp_path / "data")
    staged = out / staged_file("digits")
    d = torch.load(staged, weights_only=True)
    assert d["train_x"].shape == (1500, 1, 8, 8) and d["test_x"].shape == (297, 1, 8, 8)
    assert d["train_x"].dtype == torch.uint8 and int(d["train_x"].max()) == 255
    assert set(d["train_y"].tolist()) == set(range(10))


def test_image_folder_is_staged_and_trains(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "folder"
    for split, n in (("train", 24), ("test", 6)):
        for label, name in enumerate(("dark", "light")):
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                base = 40 if label == 0 else 200
                pixels = np.clip(base + rng.normal(0, 20, (10, 10, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    cfg = ChildConfig(
        dataset="image-folder", data_dir=str(root), dev_size=8, layers=1, channels=4, epochs=2,
        batch_size=8, lr_max=0.05, device="cpu", amp=False, cpu_threads=1,
    )  # fmt: skip
    staged_dir = prepare_data(cfg, tmp_path / "staged")
    d = torch.load(staged_dir / staged_file("image-folder"), weights_only=True)
    assert d["train_x"].shape == (48, 3, 10, 10) and d["classes"] == ["dark", "light"]
    cfg = ChildConfig(**{**cfg.__dict__, "data_dir": str(staged_dir)})
    result = train_child(get_space("enas"), enas_arch(), cfg, tmp_path / "run", seed=0)
    assert result.train_size == 40 and result.dev_size == 8
    assert 0.0 <= result.dev_accuracy <= 1.0


def test_augment_crops_flips_and_cuts_out_reproducibly() -> None:
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    a = augment(x, torch.Generator().manual_seed(3), pad=1, flip=True, cutout=2)
    b = augment(x, torch.Generator().manual_seed(3), pad=1, flip=True, cutout=2)
    assert a.shape == x.shape and torch.equal(a, b)
    holes = augment(x, torch.Generator().manual_seed(0), pad=0, flip=False, cutout=2)
    # away from the border a cutout of length 2 zeroes 2×2 pixels; near it fewer, never more
    zeros = (holes == 0).flatten(1).sum(1)
    assert ((zeros >= 1) & (zeros <= 4)).all()
    assert torch.equal(holes[holes != 0], x[holes != 0])


# ---------------------------------------------------------------- the RNN child


def write_corpus(folder: Path) -> None:
    """A tiny PTB-format corpus with a simple grammar, so a language model has something to learn."""
    rng = random.Random(0)

    def sentence() -> str:
        return " ".join([
            rng.choice(["the", "a"]), rng.choice(["big", "small", "red"]), rng.choice(["cat", "dog"]),
            rng.choice(["sat on", "ran to"]), "the", rng.choice(["mat", "door"]),
        ])  # fmt: skip

    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 300), ("valid", 30), ("test", 30)):
        (folder / f"ptb.{name}.txt").write_text("\n".join(sentence() for _ in range(n)) + "\n")


def test_rnn_child_trains_on_a_tiny_corpus_and_perplexity_falls(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus")
    staged = prepare_data(
        load_config(
            None,
            ["search.space=enas-rnn", "child.dataset=ptb", f"child.data_dir={tmp_path / 'corpus'}"],
        ).child,
        tmp_path / "staged",
    )
    assert (staged / "ptb.valid.txt").read_text() == (
        tmp_path / "corpus" / "ptb.valid.txt"
    ).read_text()
    cfg = load_config(None, [
        "search.space=enas-rnn", "child.dataset=ptb", f"child.data_dir={staged}", "child.epochs=3",
        "child.batch_size=4", "child.lr_max=20", "child.momentum=0", "child.grad_clip=0.25",
        "child.weight_decay=5e-7",
        "child.device=cpu", "child.cpu_threads=1", "child.rnn.embedding_size=64",
        "child.rnn.hidden_size=64", "child.rnn.bptt=10", "child.rnn.eval_batch_size=4",
        "child.rnn.dropout=0", "child.rnn.dropout_h=0", "child.rnn.dropout_x=0",
        "child.rnn.dropout_i=0", "child.rnn.dropout_e=0",
    ]).child  # fmt: skip
    space = get_space("enas-rnn")
    arch = space.sample_unique(1, random.Random(1))[0]
    result = train_child(space, arch, cfg, tmp_path / "run", seed=1)
    history = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["history"]
    ppls = [h["dev_perplexity"] for h in history]
    # an untrained model is about as good as a uniform guess: perplexity ≈ vocabulary size
    assert ppls[-1] < ppls[0] and ppls[-1] < 0.5 * result.vocab
    assert result.dev_perplexity == ppls[-1] and result.test_perplexity > 1
    assert result.dev_accuracy == perplexity_score(ppls[-1], result.vocab)
    assert result.best_dev_accuracy >= result.dev_accuracy


def test_perplexity_score_ranks_like_perplexity() -> None:
    scores = [perplexity_score(p, 10000) for p in (1.0, 55.0, 60.0, 80.0, 10000.0, 20000.0)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == 1.0 and scores[-2] == 0.0 and scores[-1] == 0.0
    assert scores[2] == pytest.approx(1 - math.log(60) / math.log(10000))


def test_digits_are_scikit_learns_and_staging_them_imports_neither_sklearn_nor_inductor() -> None:
    """The digits are load_digits' images and labels, read without importing scikit-learn, and a
    child's deterministic switch leaves torch._inductor unimported: both cost seconds per task."""
    import subprocess
    import sys

    code = """
import sys, torch
from nao_kfp.child import data, runtime
digits = data._digits()
with runtime.deterministic(True):
    on = (torch.are_deterministic_algorithms_enabled(),
          torch.is_deterministic_algorithms_warn_only_enabled())
print(on, torch.are_deterministic_algorithms_enabled(),
      'sklearn' in sys.modules, 'torch._inductor' in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["(True,", "True)", "False", "False", "False"], out
    from sklearn.datasets import load_digits

    from nao_kfp.child.data import _digits

    d, ours = load_digits(), _digits()
    x = np.concatenate([ours.train_x.numpy(), ours.test_x.numpy()])
    y = np.concatenate([ours.train_y.numpy(), ours.test_y.numpy()])
    want = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
    assert len(y) == len(d.target) == 1797
    # the same images with the same labels (split by a fixed permutation)
    pairs = sorted(zip(map(bytes, x.reshape(len(y), -1)), y.tolist(), strict=True))
    assert pairs == sorted(
        zip(map(bytes, want.reshape(len(y), -1)), d.target.tolist(), strict=True)
    )
