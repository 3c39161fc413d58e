"""The final training: re-rank the top few, train the winner at full size (resumably), export."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from nao_kfp import final
from nao_kfp.config import load_config
from nao_kfp.errors import ConfigError
from nao_kfp.export import load_classifier
from nao_kfp.serve import inference_service
from nao_kfp.spaces import get_space
from nao_kfp.store import LocalStore

TINY = [
    "search.space=enas", "child.dataset=digits", "child.dev_size=200", "child.layers=1",
    "child.channels=4", "child.epochs=1", "child.device=cpu", "child.cpu_threads=1",
    "final.enabled=true", "final.rerank_top=2", "final.rerank_epochs=1", "final.layers=1",
    "final.channels=6", "final.epochs=2", "final.batch_size=64", "final.train_subset=300",
    "final.cutout=2", "final.drop_path=0.1", "final.dropout=0.1",
    "final.aot_compile=false",  # tests/test_serve.py compiles the suite's one package
]  # fmt: skip


def archs(n: int = 3) -> list[str]:
    space = get_space("enas")
    return [space.to_string(a) for a in space.sample_unique(n, random.Random(11))]


def test_final_training_reranks_trains_full_size_and_exports(tmp_path: Path) -> None:
    cfg = load_config(None, TINY)
    lines: list[str] = []
    out = final.final_train(cfg, archs(), tmp_path / "w", seed=0, log=lines.append)
    assert [r.arch for r in out.rerank] == archs()[:2]  # only the top rerank_top
    best = max(out.rerank, key=lambda r: r.dev_accuracy or 0.0)
    assert out.arch == best.arch or out.rerank[0].dev_accuracy == best.dev_accuracy
    assert 0.0 <= out.test_accuracy <= 1.0 and out.epochs == 2
    assert out.params > 0 and out.macs > 0
    ckpt = torch.load(tmp_path / "w" / "train" / "checkpoint.pt", weights_only=True)
    assert ckpt["spec"]["channels"] == 6 and ckpt["spec"]["aux_head"] is True and ckpt["epoch"] == 2
    assert sum(1 for line in lines if line.startswith("epoch ")) == 1 + 1 + 2  # 2 reranks, 2 epochs
    # the exported model is the trained network: it scores the test set as training did
    model = load_classifier(Path(out.model))
    program = torch.export.load(out.program).module()
    from nao_kfp.child import data as image_data

    images = image_data.load_images(cfg.child)
    x = images.test_x.float() / 255
    with torch.no_grad():
        logits = model(x)
    torch.testing.assert_close(program(x), logits, rtol=1e-4, atol=1e-4)
    acc = float((logits.argmax(1) == images.test_y).float().mean())
    assert acc == pytest.approx(out.test_accuracy)
    # final.json lies in the model folder, its paths relative to it; read back, they resolve
    written = json.loads((tmp_path / "w" / "model" / final.FINAL_JSON).read_text())
    assert (written["model_dir"], written["model"], written["program"]) == (
        ".",
        "model.pt",
        "model.pt2",
    )
    assert written["inference_service"] == "inference-service.yaml"
    assert "torch.export.load('model.pt2')" in written["load"]
    assert final.read_final(tmp_path / "w" / "model") == out
    assert out.model_dir == str(tmp_path / "w" / "model")
    assert f"torch.export.load('{tmp_path / 'w' / 'model' / 'model.pt2'}')" in out.load
    assert out.package is None and out.compile_seconds is None  # final.aot_compile=false
    assert not (Path(out.model_dir) / "model.aoti.pt2").exists()
    # the model is in the store, and the InferenceService beside it serves it from there
    store_dir = (tmp_path / "w" / "store").resolve()
    assert out.storage_uri.startswith(f"{store_dir}/models/enas/final-")
    assert out.storage_uri.endswith(f"/{out.arch_id}")
    stored = torch.load(Path(out.storage_uri) / "model.pt", weights_only=True)
    assert stored["arch_id"] == out.arch_id
    isvc = yaml.safe_load(Path(out.inference_service).read_text())
    assert Path(out.inference_service).parent == Path(out.model_dir)
    assert isvc == inference_service(out.storage_uri, cfg.cluster)
    summary = final.final_summary(out)
    assert out.model_dir in summary and summary.splitlines()[-1] == f"load it: {out.load}"

    # a second run (e.g. a retried pod with a fresh work dir) trains nothing: the store has it
    again: list[str] = []
    store = LocalStore(tmp_path / "w" / "store")
    out2 = final.final_train(cfg, archs(), tmp_path / "w2", seed=0, store=store, log=again.append)
    assert not [line for line in again if line.startswith("epoch ")]
    assert (out2.arch_id, out2.test_accuracy, out2.params) == (
        out.arch_id, out.test_accuracy, out.params,
    )  # fmt: skip


def test_an_interrupted_final_training_resumes_from_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_config(None, [*TINY, "final.rerank_top=1"])
    store = LocalStore(tmp_path / "store")
    import nao_kfp.child as child_pkg  # final imports train_child from here when it runs

    original = child_pkg.train_child

    class Killed(Exception):
        pass

    def killed_after_one_epoch(*args: Any, **kw: Any) -> Any:
        mirror = kw["on_checkpoint"]

        def on_checkpoint(path: Path) -> None:
            mirror(path)
            raise Killed

        return original(*args, **{**kw, "on_checkpoint": on_checkpoint})

    monkeypatch.setattr(child_pkg, "train_child", killed_after_one_epoch)
    with pytest.raises(Killed):
        final.final_train(cfg, archs(1), tmp_path / "pod1", seed=0, store=store)
    monkeypatch.setattr(child_pkg, "train_child", original)
    lines: list[str] = []
    out = final.final_train(cfg, archs(1), tmp_path / "pod2", seed=0, store=store, log=lines.append)
    assert any(line.startswith("resuming at epoch 2 of 2") for line in lines)
    assert [line.split()[1] for line in lines if line.startswith("epoch ")] == ["2/2"]
    assert out.rerank == [] and out.epochs == 2


def test_an_nb201_cell_trains_as_a_final_model_and_exports(tmp_path: Path) -> None:
    cfg = load_config(None, [*TINY, "search.space=nb201", "final.rerank_top=1", "final.epochs=1"])
    space = get_space("nb201")
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
    out = final.final_train(cfg, [cell], tmp_path / "w", seed=0)
    assert out.arch == space.to_string(space.parse(cell)) and out.params > 0
    model = load_classifier(Path(out.model))
    program = torch.export.load(out.program).module()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(program(x), model(x), rtol=1e-4, atol=1e-4)


def test_without_a_compiler_the_final_model_is_exported_and_published_without_a_package(
    tmp_path: Path,
) -> None:
    """final.aot_compile on, torch's compiler setting ($CXX) naming none that runs: one line in
    the log, final.json says no package, and the store holds the model without one."""
    from torch._inductor import config as inductor

    cfg = load_config(
        None, [*TINY, "final.rerank_top=1", "final.epochs=1", "final.aot_compile=true"]
    )
    lines: list[str] = []
    with inductor.patch({"cpp.cxx": (str(tmp_path / "no-such-c++"),)}):
        out = final.final_train(cfg, archs(1), tmp_path / "w", seed=0, log=lines.append)
    no_compiler = "export: no C++ compiler ($CXX, else g++): model.aoti.pt2 not written"
    assert f"{no_compiler}; nao serve runs model.pt2" in lines
    assert out.package is None and out.compile_seconds is None
    published = {p.name for p in Path(out.storage_uri).iterdir() if p.suffix != ".sha256"}
    assert published == {"model.json", "model.pt", "model.pt2"}


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["final.epochs=0"], r"^final.epochs: expected at least 1"),
        (["final.rerank_top=3", "final.rerank_epochs=700"], r"^final.rerank_epochs: 700 is more"),
        (["final.drop_path=1.0"], r"^final.drop_path: expected below 1.0"),
        (["final.lr_min=1", "final.lr_max=0.1"], r"^final.lr_min: expected 0 <= lr_min"),
        (["child.dataset=digits", "child.dev_size=500", "final.train_subset=1200"],
         r"^final.train_subset: 1200 train images"),
        (["search.space=enas-rnn", "child.dataset=ptb", "child.data_dir=x", "final.enabled=true"],
         r"^final.enabled: the final training builds image networks"),
    ],
)  # fmt: skip
def test_final_keys_are_checked_at_load(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_config(None, overrides)


@pytest.mark.slow
def test_a_tiny_search_with_final_training_through_the_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kfp.local end to end: a (synthetic-evaluator) search, then the final task trains the
    best two re-ranked on digits and exports; the exported program loads with torch alone and
    predicts what the checkpoint's network predicts."""
    import os
    import subprocess
    import sys

    from nao_kfp.cli import main
    from nao_kfp.export import load_classifier

    sets = ["evaluator.kind=synthetic", "search.rounds=2", "final.enabled=true",
            "final.rerank_top=2", "final.rerank_epochs=1", "final.epochs=1", "final.layers=1",
            "final.channels=4", "final.aux_head=false", "final.batch_size=64",
            "final.aot_compile=false"]  # fmt: skip
    out = tmp_path / "run"
    args = ["search", "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    done = final.read_final(out / "final" / "model")
    assert done is not None
    summary = final.final_summary(done).splitlines()
    at = lines.index(summary[0])  # the model, how to load it, then what to do next: serve it
    assert lines[at : at + 2] == summary and lines[at + 2] == "next:"
    assert f"    nao serve {out / 'final' / 'model'}" in lines[at + 3 :]
    assert done.model_dir == str(out / "final" / "model")
    assert done.inference_service == str(out / "final" / "model" / "inference-service.yaml")
    isvc = yaml.safe_load(Path(done.inference_service).read_text())
    (env,) = isvc["spec"]["predictor"]["containers"][0]["env"]
    assert env["value"] == done.storage_uri
    assert done.storage_uri.startswith(str((out / "store" / "models").resolve()))
    assert len(done.rerank) == 2 and 0.0 <= done.test_accuracy <= 1.0
    result = json.loads((out / "result.json").read_text())
    assert result["final"]["arch_id"] == done.arch_id
    x = torch.rand(5, 1, 8, 8)
    torch.save(x, tmp_path / "x.pt")
    want = load_classifier(out / "final" / "model" / "model.pt")(x)
    code = (
        "import sys, torch; sys.modules['nao_kfp'] = None; "
        f"m = torch.export.load({str(out / 'final' / 'model' / 'model.pt2')!r}).module(); "
        f"torch.save(m(torch.load({str(tmp_path / 'x.pt')!r})), {str(tmp_path / 'y.pt')!r})"
    )
    subprocess.run([sys.executable, "-I", "-c", code], check=True)
    assert torch.allclose(torch.load(tmp_path / "y.pt"), want, atol=1e-5)
    # the load command the summary prints works as printed (with a `python` that has torch)
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"
    subprocess.run(
        done.load, shell=True, check=True, capture_output=True, env={**os.environ, "PATH": path}
    )
