"""Tabular evaluator and the synthetic table generator."""

import random

import pytest

from nao_kfp.errors import ArchError
from nao_kfp.spaces import get_space
from nao_kfp.tabular import (
    BudgetExhausted,
    TableError,
    TableSpec,
    TabularEvaluator,
    generate_table,
    read_table,
    write_table,
)

NB201 = get_space("nb201")
GOOD = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
OTHER = "|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_generated_table_is_deterministic_per_seed():
    a = generate_table(NB201, TableSpec(seed=3, rows=50))
    b = generate_table(NB201, TableSpec(seed=3, rows=50))
    c = generate_table(NB201, TableSpec(seed=4, rows=50))
    assert a.digest() == b.digest() != c.digest()
    assert len(a) == 50 and len({r.id for r in a.rows}) == 50
    assert all(0.0 <= r.valid <= 100.0 and r.test is not None for r in a.rows)


def test_generated_table_has_structure_to_search():
    # neighbours (one op apart) must be more alike than random pairs, or search is pointless
    t = generate_table(NB201, TableSpec(seed=0, rows=2000))
    by_tokens = {tuple(NB201.encode(r.arch)): r.valid for r in t.rows}
    near, far = [], []
    keys = list(by_tokens)
    for i, k in enumerate(keys):
        other = keys[(i * 7919) % len(keys)]
        far.append(abs(by_tokens[k] - by_tokens[other]))
        for pos in range(NB201.seq_len):
            for tok in range(NB201.vocab_size):
                n = k[:pos] + (tok,) + k[pos + 1 :]
                if n != k and n in by_tokens:
                    near.append(abs(by_tokens[k] - by_tokens[n]))
    assert sum(near) / len(near) < 0.6 * sum(far) / len(far)


def test_write_read_roundtrip(tmp_path):
    t = generate_table(NB201, TableSpec(seed=1, rows=30))
    write_table(tmp_path / "t.csv", t)
    back = read_table(tmp_path / "t.csv", NB201)
    assert back.digest() == t.digest() and back.units == "percent" and back.has_test


def test_fraction_tables_are_read_as_percent(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text(f"arch,valid,test\n{GOOD},0.9125,0.9\n{OTHER},0.5,\n")
    t = read_table(p, NB201)
    assert t.units == "fraction"
    assert t.get(NB201.parse(GOOD)).valid == pytest.approx(91.25)
    assert t.get(NB201.parse(GOOD)).test == pytest.approx(90.0)
    assert t.get(NB201.parse(OTHER)).test is None


def test_chance_level_cells_stay_percentages(tmp_path):
    # complete CIFAR-100 / ImageNet16-120 tables hold disconnected cells at chance level,
    # 1.0 and 0.83 percent: they are not fractions, and the table reads as percent
    p = tmp_path / "c100.csv"
    p.write_text(f"arch,valid,test\n{GOOD},61.5,73.1\n{OTHER},1.0,0.8333\n")
    t = read_table(p, NB201)
    assert t.units == "percent"
    assert t.get(NB201.parse(OTHER)).valid == pytest.approx(1.0)
    assert t.get(NB201.parse(OTHER)).test == pytest.approx(0.8333)


@pytest.mark.parametrize(
    "body, message",
    [
        (f"arch,valid\n{GOOD},91\n|bogus~0|+|x|,80\n", "t.csv:3: arch: nb201"),
        (f"arch,valid\n{GOOD},91\n{GOOD},92\n", "t.csv:3: arch: duplicate of line 2"),
        (f"arch,valid\n{GOOD},high\n", "t.csv:2: valid: expected a number, got 'high'"),
        (f"arch,valid\n{GOOD},91\n{OTHER},101\n", "t.csv:3: valid: 101.0 is out of range"),
        (f"arch,accuracy\n{GOOD},91\n", "t.csv:1: missing column 'valid'"),
        (f"arch,valid,cost\n{GOOD},91,3\n", "t.csv:1: unknown column 'cost'"),
        (f"arch,valid\n{GOOD},91,3\n", "t.csv:2: expected 2 columns, got 3"),
        ("arch,valid\n", "no rows after the header"),
    ],
)
def test_malformed_tables_name_the_row(tmp_path, body, message):
    p = tmp_path / "t.csv"
    p.write_text(body)
    with pytest.raises(TableError) as e:
        read_table(p, NB201)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_queries_count_new_architectures_only():
    t = generate_table(NB201, TableSpec(seed=2, rows=20))
    ev = TabularEvaluator(t, budget=2)
    a, b, c = (r.arch for r in t.rows[:3])
    first = ev.query(a)
    assert ev.query(a) == first and ev.used == 1  # a repeat is free
    ev.query(b)
    assert ev.remaining == 0 and [q.index for q in ev.history] == [1, 2]
    assert ev.query(b).index == 2  # still free once the budget is spent
    with pytest.raises(BudgetExhausted):
        ev.query(c)


def test_querying_an_architecture_outside_the_table_fails():
    t = generate_table(NB201, TableSpec(seed=2, rows=20))
    outside = next(
        a for a in (NB201.sample(random.Random(i)) for i in range(500)) if t.get(a) is None
    )
    ev = TabularEvaluator(t, budget=5)
    assert not ev.available(outside) and not ev.is_new(outside)
    with pytest.raises(ArchError, match="not in the table"):
        ev.query(outside)
    assert ev.used == 0
