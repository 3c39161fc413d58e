"""Pool files: JSONL round trip, defaults, dedup by canonical id, and file:line errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from nao_kfp.errors import PoolError
from nao_kfp.pool import dedup, entry, evaluated, parse_record, read_pool, write_pool
from nao_kfp.spaces import SPACES, get_space


@pytest.mark.parametrize("name", list(SPACES))
def test_write_then_read_round_trips(name: str, tmp_path: Path) -> None:
    space = get_space(name)
    archs = space.sample_unique(6, random.Random(0))
    entries = [
        entry(space, archs[0], 0.91, round=1, source="nao", eta=10.0),
        entry(space, archs[1]),
        entry(space, archs[2], status="failed", error="out of memory"),
        *[entry(space, a, 0.5 + i / 10) for i, a in enumerate(archs[3:])],
    ]
    path = tmp_path / "sub" / "pool.jsonl"
    write_pool(path, entries)
    back = read_pool(path)
    assert [(e.arch, e.accuracy, e.status, e.extra) for e in back] == [
        (e.arch, e.accuracy, e.status, e.extra) for e in entries
    ]
    assert [e.status for e in back[:3]] == ["ok", "pending", "failed"]
    rec = json.loads(path.read_text().splitlines()[0])
    assert rec["arch"] == space.to_string(archs[0]) and rec["id"] == space.canonical_id(archs[0])
    assert [p.name for p in path.parent.iterdir()] == ["pool.jsonl"]  # no temp file left


def test_defaults_and_blank_lines(tmp_path: Path) -> None:
    space = get_space("nb201")
    a, b = space.sample_unique(2, random.Random(1))
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"arch": space.to_string(a), "space": "nb201", "accuracy": 1})
        + "\n\n"
        + json.dumps({"arch": space.to_string(b), "space": "nb201", "params": 12})
        + "\n"
    )
    x, y = read_pool(path)
    assert (x.status, x.accuracy) == ("ok", 1.0)
    assert (y.status, y.accuracy, y.extra) == ("pending", None, {"params": 12})


def test_dedup_keeps_one_per_network_preferring_evaluated() -> None:
    space = get_space("enas")
    arch = space.sample(random.Random(2))
    twin = space.symmetric_variants(arch)[1]
    other = space.sample(random.Random(3))
    pool = [entry(space, arch), entry(space, twin, 0.8), entry(space, other, 0.7)]
    out = dedup(pool)
    assert len(out) == 2 and out[0].arch == twin and out[0].accuracy == 0.8
    assert [e.accuracy for e in evaluated([*pool, entry(space, other, status="failed")])] == [
        0.8,
        0.7,
    ]


def test_errors_carry_file_and_line(tmp_path: Path) -> None:
    space = get_space("nb201")
    good, other = (
        json.dumps({"arch": space.to_string(a), "space": "nb201"})
        for a in space.sample_unique(2, random.Random(0))
    )
    path = tmp_path / "p.jsonl"
    path.write_text(f"{good}\n{other}\n\n{{oops\n")
    with pytest.raises(PoolError) as err:
        read_pool(path)
    assert str(err.value).startswith(f"{path}:4: not valid JSON (")
    path.write_bytes(good.encode() + b"\n\xff\xfe\n")
    with pytest.raises(PoolError, match=r":2: not UTF-8 text$"):
        read_pool(path)
    with pytest.raises(PoolError, match=r"missing.jsonl: no such pool file$"):
        read_pool(tmp_path / "missing.jsonl")
    path.write_text(f"{good}\n{other}\n{good}\n")
    with pytest.raises(PoolError, match=r"p.jsonl:3: arch: duplicate of line 1 \(canonical id "):
        read_pool(path)
    with pytest.raises(PoolError, match=r": is a directory; expected a pool file"):
        read_pool(tmp_path)


@pytest.mark.parametrize("acc", [1.5, -3.0])
def test_an_accuracy_outside_zero_one_is_rejected(tmp_path: Path, acc: float) -> None:
    space = get_space("enas")
    arch = space.to_string(space.sample(random.Random(0)))
    (tmp_path / "p.jsonl").write_text(json.dumps({"arch": arch, "space": "enas", "accuracy": acc}))
    with pytest.raises(
        PoolError, match=rf"p.jsonl:1: accuracy: expected a fraction in \[0, 1\], got {acc}"
    ):
        read_pool(tmp_path / "p.jsonl")


def test_typed_fields_round_trip_and_legacy_keys_read(tmp_path: Path) -> None:
    space = get_space("enas")
    a, b = space.sample_unique(2, random.Random(3))
    legacy = {"arch": space.to_string(a), "space": "enas", "round": 2, "source": "nao",
              "predicted_after": 0.7, "eta": 10, "seconds": 3.5}  # fmt: skip
    (tmp_path / "p.jsonl").write_text(json.dumps(legacy) + "\n")
    (e,) = read_pool(tmp_path / "p.jsonl")
    assert (e.round, e.source, e.predicted, e.eta, e.extra) == (
        2,
        "nao",
        0.7,
        10.0,
        {"seconds": 3.5},
    )
    write_pool(tmp_path / "q.jsonl", [e, entry(space, b, round=1, source="random")])
    back = read_pool(tmp_path / "q.jsonl")
    assert back[0] == e and back[1].round == 1 and back[1].predicted is None
    assert "predicted_after" not in (tmp_path / "q.jsonl").read_text()
    (tmp_path / "bad.jsonl").write_text(json.dumps({**legacy, "round": "two"}) + "\n")
    with pytest.raises(PoolError, match=r"bad.jsonl:1: round: expected an integer, got 'two'"):
        read_pool(tmp_path / "bad.jsonl")


def test_parse_record_checks_accuracy_and_status() -> None:
    text = get_space("enas-rnn").to_string(get_space("enas-rnn").sample(random.Random(0)))
    base = {"arch": text, "space": "enas-rnn"}
    # enas-rnn scores are fractions too (1 - ln(ppl) / ln(V), clipped): nothing else is accepted
    assert parse_record({**base, "accuracy": 0.42}, "x").accuracy == 0.42
    with pytest.raises(PoolError, match=r"x: accuracy: expected a fraction in \[0, 1\], got -4.2"):
        parse_record({**base, "accuracy": -4.2}, "x")
    for bad, msg in [
        ({"accuracy": True}, "x: accuracy: expected a number, got True"),
        (
            {"accuracy": float("inf")},
            "x: accuracy: inf is not allowed; use null with status failed",
        ),
        ({"accuracy": 0.3, "status": "pending"}, "x: accuracy: status pending needs null, got 0.3"),
        ({"status": ["ok"]}, "x: status: expected 'ok', 'failed' or 'pending', got ['ok']"),
        ({"space": 3}, "x: space: expected a string, got 3"),
    ]:
        with pytest.raises(PoolError) as err:
            parse_record({**base, **bad}, "x")
        assert str(err.value) == msg
