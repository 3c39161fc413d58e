"""Typed configuration: presets, unknown keys and wrong types, cross-field checks, overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nao_kfp.config import (
    PRESETS_DIR,
    Config,
    apply_overrides,
    config_from_json,
    config_to_json,
    describe_keys,
    load_config,
    parse_override,
)
from nao_kfp.errors import ConfigError
from nao_kfp.spaces import SPACES

PRESETS = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def test_the_required_presets_exist() -> None:
    assert {"demo", "cifar10", "ptb", "nao-ws-cifar10"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_round_trips(name: str) -> None:
    cfg = load_config(name)
    assert cfg.search.space in SPACES
    assert config_from_json(config_to_json(cfg)) == cfg
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_presets_carry_the_papers_settings() -> None:
    demo, cifar, ptb, ws = (load_config(n) for n in ("demo", "cifar10", "ptb", "nao-ws-cifar10"))
    assert (demo.search.space, demo.child.dataset, demo.search.rounds) == ("enas", "digits", 3)
    assert cifar.search.space == "nasnet" and cifar.child.dataset == "cifar10"
    assert (cifar.controller.embedding_size, cifar.controller.hidden_size) == (32, 96)
    assert (cifar.controller.trade_off, cifar.search.eta, cifar.child.dev_size) == (0.9, 10.0, 5000)
    assert (ptb.search.space, ptb.child.dataset) == ("enas-rnn", "ptb")
    c = ptb.controller
    assert (c.embedding_size, c.hidden_size, c.mlp_layers, c.mlp_hidden, c.trade_off) == (
        64,
        128,
        1,
        200,
        0.8,
    )
    assert (ptb.child.lr_max, ptb.child.grad_clip, ptb.child.weight_decay) == (10.0, 0.25, 5e-7)
    w = ws.controller
    assert ws.search.space == "enas"
    assert (w.embedding_size, w.hidden_size, w.mlp_layers, w.mlp_hidden, w.dropout) == (
        48,
        96,
        3,
        100,
        0.1,
    )


def test_controller_defaults_follow_the_paper() -> None:
    c = Config().controller
    assert (c.embedding_size, c.hidden_size, c.mlp_layers, c.trade_off) == (32, 96, 1, 0.9)
    assert (c.optimizer, c.lr, c.epochs, Config().search.eta) == ("adam", 1e-3, 1000, 10.0)


def test_configs_are_frozen() -> None:
    cfg = load_config("demo")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.search.rounds = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["controller.hiden_size=64"],
            "controller.hiden_size: unknown key (did you mean hidden_size?)",
        ),
        (["serch.rounds=2"], "serch: unknown key (did you mean search?)"),
        (["child.rnn.bpt=20"], "child.rnn.bpt: unknown key (did you mean bptt?)"),
        (["search.rounds=2.5"], "search.rounds: expected an integer, got 2.5"),
        (["search.rounds=true"], "search.rounds: expected an integer, got True"),
        (["controller.lr=fast"], "controller.lr: expected a number, got 'fast'"),
        (["child.aux_head=1"], "child.aux_head: expected true/false, got 1"),
        (
            ["cluster.tolerations={key: a}"],
            "cluster.tolerations: expected a list, got {'key': 'a'}",
        ),
        (["child=3"], "child: expected a mapping of keys, got int"),
        (["search.initial_archs=0"], "search.initial_archs: expected at least 1, got 0"),
        (["controller.dropout=1.0"], "controller.dropout: expected below 1.0, got 1.0"),
        (
            ["child.lr_min=1", "child.lr_max=0.1"],
            "child.lr_min: expected 0 <= lr_min <= lr_max, got 1.0 and 0.1",
        ),
        (
            ["child.dataset=ptb", "search.space=enas-rnn"],
            "child.data_dir: required for child.dataset 'ptb'",
        ),
        (
            ["search.space=enas-rnn"],
            "child.dataset: 'digits' does not fit search.space 'enas-rnn' (ptb goes with enas-rnn only)",
        ),
        (
            ["cluster.image=nao-kfp"],
            "cluster.image: 'nao-kfp' has no tag; pin a version (no implicit :latest)",
        ),
        (["child.momentum=1"], "child.momentum: expected below 1.0, got 1.0"),
        (
            ["controller.optimizer=sgd"],
            "controller.optimizer: expected one of adam, adamw, got 'sgd'",
        ),
        (["=3"], "--set =3: expected a dotted key before '=', e.g. search.rounds=3"),
        (
            ["search..rounds=3"],
            "--set search..rounds=3: expected a dotted key before '=', e.g. search.rounds=3",
        ),
        (["search.rounds.x=3"], "--set search.rounds.x=3: rounds is not a section"),
    ],
)
def test_bad_values_name_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config("demo", overrides)
    assert str(err.value) == message


def test_overrides_apply_to_any_key_with_yaml_values() -> None:
    cfg = load_config(
        "demo",
        [
            "search.rounds=5",
            "controller.lr=1e-4",  # PyYAML reads this as a string; still a number
            "child.aux_head=true",
            "cluster.node_selector={pool: gpu}",
            "cluster.tolerations=[{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]",
            "cluster.image=registry.local:5000/nao:0.2",
            "name=my run",
        ],
    )
    assert cfg.search.rounds == 5 and cfg.controller.lr == 1e-4 and cfg.child.aux_head
    assert cfg.cluster.node_selector == {"pool": "gpu"}
    assert cfg.cluster.tolerations[0]["operator"] == "Exists"
    assert cfg.cluster.image == "registry.local:5000/nao:0.2" and cfg.name == "my run"
    # untouched keys keep the preset's values
    assert cfg.search.space == load_config("demo").search.space


def test_parse_override_and_apply_overrides() -> None:
    assert parse_override("a.b=1") == (["a", "b"], 1)
    assert parse_override("a= x ") == (["a"], "x")
    assert parse_override("a=") == (["a"], "")
    assert parse_override("a=[1, 2]") == (["a"], [1, 2])
    data = {"search": {"rounds": 1}}
    out = apply_overrides(data, ["search.rounds=2", "child.epochs=4"])
    assert out == {"search": {"rounds": 2}, "child": {"epochs": 4}}
    assert data == {"search": {"rounds": 1}}  # not mutated


def test_yaml_files_and_their_errors(tmp_path: Path) -> None:
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\nsearch:\n  rounds: 2\n  eta: 1e1\n")
    cfg = load_config(str(good))
    assert (cfg.name, cfg.search.rounds, cfg.search.eta) == ("mine", 2, 10.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("search: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: not valid YAML \("):
        load_config(str(bad))
    with pytest.raises(ConfigError, match=r"^--config nope.yaml: no such file$"):
        load_config("nope.yaml")
    with pytest.raises(
        ConfigError, match=r"^--config nope: no such preset or file \(presets: .*demo"
    ):
        load_config("nope")
    assert load_config(None) == Config.from_dict({})
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"dir.yaml: is a folder; expected a YAML file$"):
        load_config(str(tmp_path / "dir.yaml"))


def test_a_folder_named_like_a_preset_does_not_shadow_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "demo").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_config("demo").name == "demo"


def test_json_parameter_errors() -> None:
    with pytest.raises(ConfigError, match=r"^config: not valid JSON"):
        config_from_json("{")
    with pytest.raises(ConfigError, match=r"^config: expected a JSON object$"):
        config_from_json("[]")


def test_digest_depends_only_on_the_named_sections() -> None:
    a = load_config("demo")
    b = load_config("demo", ["search.rounds=7"])
    assert a.digest("child") == b.digest("child")
    assert a.digest() != b.digest() and a.digest("search") != b.digest("search")
    assert len(a.digest("child")) == 16


def _leaves(data: dict[str, object], prefix: str = "") -> list[str]:
    out = []
    for k, v in data.items():
        sub = isinstance(v, dict) and k not in ("node_selector",)
        out += _leaves(v, f"{prefix}{k}.") if sub else [prefix + k]  # type: ignore[arg-type]
    return out


def test_every_key_nao_config_show_prints_is_described() -> None:
    docs = describe_keys()
    assert [d.path for d in docs] == _leaves(Config().to_dict())
    empty = [d.path for d in docs if not d.doc.strip()]
    assert not empty, f"keys without a description: {empty}"
    by_path = {d.path: d for d in docs}
    rounds = by_path["search.rounds"]
    assert (rounds.type, rounds.default, rounds.min, rounds.max) == ("int", 3, 1, 200)
    assert rounds.why and by_path["search.prior"].type == "list[str]"
    assert by_path["evaluator.kind"].choices == ("train", "table", "synthetic", "supernet", "proxy")
    assert by_path["cluster.tolerations"].default == []


def test_every_count_that_drives_a_loop_has_a_ceiling_with_its_reason() -> None:
    for d in describe_keys():
        if d.type == "int" and d.max is None:
            # the few unbounded ints are budgets and weights, never a count of work
            assert d.path in ("search.max_params", "search.max_macs", "search.prior_half_life")
        if d.max is not None and d.type == "int":
            assert d.why, d.path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["search.proxy_pool=1000000000"],
            "search.proxy_pool: expected at most 10000 (each is a network build), got 1000000000",
        ),
        # the key's feature is off (search.proxy_seed 0, evaluator.kind train): still checked
        (["search.proxy_pool=-5"], "search.proxy_pool: expected at least 1, got -5"),
        (["evaluator.proxy_reference=1"], "evaluator.proxy_reference: expected at least 2, got 1"),
        (
            ["evaluator.proxy_reference=1000000000"],
            "evaluator.proxy_reference: expected at most 10000 (each is a network build), "
            "got 1000000000",
        ),
        (["supernet.bn_batches=-1"], "supernet.bn_batches: expected at least 0, got -1"),
        (
            ["controller.pseudo_batch_size=-1"],
            "controller.pseudo_batch_size: expected at least 0, got -1",
        ),
        (["child.rnn.dropout=1"], "child.rnn.dropout: expected below 1.0, got 1.0"),
        (["search.eta=0"], "search.eta: expected above 0.0, got 0.0"),
        (
            ["evaluator.proxies=[params, params, params, params, params]"],
            "evaluator.proxies: expected at most 4 items (each proxy once), got 5 items",
        ),
        (
            ["search.eta=1e-300", "search.eta_max=1e300", "search.eta_growth=1.001"],
            "search.eta_growth: 1.001 takes 1382242 steps from search.eta 1e-300 to "
            "search.eta_max 1e+300; expected at most 64 (each step decodes every seed)",
        ),
        (
            ["search.fill=" + "x" * 5000],
            "search.fill: expected one of random, none, got '" + "x" * 198 + "…",
        ),
    ],
)
def test_each_key_is_checked_against_its_own_limits(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config("demo", overrides)
    assert str(err.value) == message
