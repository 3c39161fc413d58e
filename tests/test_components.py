"""Every component, called through `.python_func` in process: a whole two-round search, one
component after the other, with real artifacts (paths) between them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp import dsl
from nao_kfp.components import data, decode, fit, merge, optimize, report, sample, select, train
from search_tiny import tiny_config

from nao_kfp.compiled import compiled_settings
from nao_kfp.config import config_to_json
from nao_kfp.errors import ConfigError
from nao_kfp.pool import read_pool


def art(cls: type, path: Path) -> dsl.Artifact:
    return cls(uri=str(path))  # a plain local path is the artifact's .path


def test_two_rounds_through_the_components(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "store")
    c = config_to_json(cfg)
    D, M = dsl.Dataset, dsl.Model
    staged = art(D, tmp_path / "data")
    compiled = compiled_settings(cfg)
    data.prepare_data.python_func(config=c, compiled=compiled, data=staged)
    pool, hist = art(D, tmp_path / "pool0"), art(D, tmp_path / "hist0")
    model = art(M, tmp_path / "model0")
    sample.sample.python_func(config=c, compiled=compiled, pool=pool, history=hist, model=model)
    assert list(Path(model.path).iterdir()) == []  # round 1's fit starts cold
    for r in (1, 2):
        res = art(D, tmp_path / f"res{r}")
        train.train_children.python_func(
            config=c, round_index=r, shard=0, num_shards=1, pool=pool, data=staged, results=res
        )
        metrics = dsl.Metrics()
        pool2, hist2 = art(D, tmp_path / f"pool{r}m"), art(D, tmp_path / f"hist{r}m")
        merge.merge.python_func(
            config=c, round_index=r, pool=pool, results=[res], history=hist,
            model=model, merged_pool=pool2, merged_history=hist2, metrics=metrics,
        )  # fmt: skip
        assert metrics.metadata[f"round{r}/evaluated"] >= 1
        assert 0 < metrics.metadata[f"round{r}/best_so_far"] <= 1
        pool, hist = pool2, hist2
        if r == 2:
            break
        fitted = art(M, tmp_path / f"model{r}")
        fm = dsl.Metrics()
        fit.fit.python_func(
            config=c, round_index=r, pool=pool, init_model=model, model=fitted, metrics=fm
        )
        assert fm.metadata[f"round{r}/fit/n_train"] == cfg.search.initial_archs
        model = fitted
        emb = art(dsl.Artifact, tmp_path / f"emb{r}")
        optimize.optimize.python_func(config=c, model=model, pool=pool, embeddings=emb)
        pool2, dm = art(D, tmp_path / f"pool{r}d"), dsl.Metrics()
        decode.decode.python_func(
            config=c, round_index=r, model=model, embeddings=emb, pool=pool, history=hist,
            new_pool=pool2, metrics=dm,
        )  # fmt: skip
        assert dm.metadata["round1/new_archs"] >= 1
        pool = pool2
    final = read_pool(pool.path)
    nao = [e for e in final if e.source == "nao"]
    assert nao and all(e.round == 2 and e.status == "ok" for e in nao)

    # warm start: round 2's controller from round 1's model
    m2 = art(M, tmp_path / "model2")
    fit.fit.python_func(
        config=c, round_index=2, pool=pool, init_model=model, model=m2, metrics=dsl.Metrics()
    )
    assert (tmp_path / "model2" / "fit_metrics.json").exists()

    selection, sm = art(D, tmp_path / "selection.json"), dsl.Metrics()
    select.select_best.python_func(
        config=c, pool=pool, data=staged, selection=selection, metrics=sm
    )
    chosen = json.loads(Path(selection.path).read_text())
    assert sm.metadata["best_dev_accuracy"] == chosen["best"]["dev_accuracy"]
    md, html = art(dsl.Markdown, tmp_path / "r.md"), art(dsl.HTML, tmp_path / "r.html")
    result, files = art(D, tmp_path / "result.json"), art(dsl.Artifact, tmp_path / "files")
    report.report.python_func(
        config=c, selection=selection, history=hist, pool=pool, result=result, markdown=md,
        html=html, files=files,
    )  # fmt: skip
    doc = json.loads(Path(result.path).read_text())
    assert [r["round"] for r in doc["rounds"]] == [1, 2] and doc["final"] is None
    assert doc["best"]["dev_accuracy"] == max(e.accuracy or 0 for e in final)
    assert doc["best"]["id"] in Path(md.path).read_text()
    assert "<svg" in Path(html.path).read_text()
    assert Path(html.path).read_text() == (tmp_path / "files" / "report.html").read_text()
    assert (tmp_path / "files" / "accuracy.png").stat().st_size > 0


def test_a_run_config_that_changes_the_compiled_shape_fails_first(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "store")
    compiled = compiled_settings(cfg)
    edited = config_to_json(tiny_config(tmp_path / "store", "search.rounds=5"))
    D = dsl.Dataset
    for call in (
        lambda: data.prepare_data.python_func(
            config=edited, compiled=compiled, data=art(D, tmp_path / "d")
        ),
        lambda: sample.sample.python_func(
            config=edited,
            compiled=compiled,
            pool=art(D, tmp_path / "p"),
            history=art(D, tmp_path / "h"),
            model=art(dsl.Model, tmp_path / "m"),
        ),  # fmt: skip
    ):
        with pytest.raises(ConfigError) as err:
            call()
        assert str(err.value) == (
            "config: search.rounds is 5 in this run's config but the pipeline was compiled "
            "with 2; recompile (nao compile / nao submit) to change it"
        )
    assert not (tmp_path / "p").exists() and not (tmp_path / "d").exists()
