"""Property tests for the four search spaces: token round trips, string/JSON/official forms,
valid-token sets, symmetry and canonical ids, sampling and mutation."""

from __future__ import annotations

import random
from typing import Any

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nao_kfp.errors import ArchError
from nao_kfp.spaces import SPACES, SearchSpace, get_space
from nao_kfp.spaces.cell import CellSpace
from nao_kfp.spaces.nb201 import NB201_OPS
from nao_kfp.spaces.rnn import ACTIVATIONS

NAMES = list(SPACES)
CELL_NAMES = ["nasnet", "enas"]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)

NAONET_A = "0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7 0 7 1 13 0 6 0 14 0 9 1 10 0 14 2 6 1 11 0 7"
NAONET_B = "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3 1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2"
NB201_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def sampled(space: SearchSpace[Any]) -> st.SearchStrategy[Any]:
    return SEEDS.map(lambda s: space.sample(random.Random(s)))


# ---------------------------------------------------------------- native strings from the spec
# Built from the description of each space (not from the token layout), so that parsing
# them and encoding checks the valid-token sets independently.


@st.composite
def cell_string(draw: st.DrawFn, space: CellSpace) -> str:
    cells = []
    for name in ("normal", "reduce"):
        nodes = []
        for k in range(space.nodes):
            # node k reads the two cell inputs (0, 1) or an earlier node j (j + 2)
            branches = [
                f"{draw(st.sampled_from(space.ops))}~{draw(st.integers(0, k + 1))}"
                for _ in range(2)
            ]
            nodes.append(" ".join(branches))
        cells.append(f"{name}[{' | '.join(nodes)}]")
    return " ".join(cells)


@st.composite
def rnn_string(draw: st.DrawFn) -> str:
    parts = [draw(st.sampled_from(ACTIVATIONS))]
    for i in range(2, 13):  # node i takes one of nodes 1..i-1
        parts.append(f"{draw(st.integers(1, i - 1))} {draw(st.sampled_from(ACTIVATIONS))}")
    return " | ".join(parts)


@st.composite
def nb201_string(draw: st.DrawFn) -> str:
    op = st.sampled_from(NB201_OPS)
    groups = ["|" + "|".join(f"{draw(op)}~{j}" for j in range(node)) + "|" for node in (1, 2, 3)]
    return "+".join(groups)


def spec_strings(name: str) -> st.SearchStrategy[str]:
    space = get_space(name)
    if isinstance(space, CellSpace):
        return cell_string(space)
    return rnn_string() if name == "enas-rnn" else nb201_string()


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_round_trips(name: str, data: st.DataObject) -> None:
    space = get_space(name)
    arch = data.draw(sampled(space))
    tokens = space.encode(arch)
    assert len(tokens) == space.seq_len
    assert space.decode(tokens) == arch
    assert space.parse(space.to_string(arch)) == arch
    assert space.from_json(space.to_json(arch)) == arch
    assert space.is_valid_tokens(tokens)


@pytest.mark.parametrize("name", CELL_NAMES)
@FAST
@given(data=st.data())
def test_official_round_trip(name: str, data: st.DataObject) -> None:
    space = get_space(name)
    assert isinstance(space, CellSpace)
    arch = data.draw(sampled(space))
    seq = space.to_official(arch)
    assert space.from_official(seq) == arch
    assert space.parse_official(" ".join(map(str, seq))) == arch


@pytest.mark.parametrize(("name", "text"), [("nasnet", NAONET_A), ("enas", NAONET_B)])
def test_naonet_official_strings_round_trip_exactly(name: str, text: str) -> None:
    space = get_space(name)
    assert isinstance(space, CellSpace)
    native = space.to_string(space.parse_official(text))
    assert " ".join(map(str, space.to_official(space.parse(native)))) == text


def test_naonet_a_ops_follow_the_official_numbering() -> None:
    # ids 5..15: identity, conv1x1, conv3x3, conv1x3+3x1, conv1x7+7x1, max2/3/5, avg2/3/5
    space = get_space("nasnet")
    assert isinstance(space, CellSpace)
    node0 = space.parse_official(NAONET_A).normal[0]
    assert node0 == (0, "conv_3x3", 1, "avg_pool_5x5")
    enas = get_space("enas")
    assert isinstance(enas, CellSpace)
    assert enas.parse_official(NAONET_B).normal[0] == (0, "sep_conv_5x5", 0, "avg_pool_3x3")


def test_nb201_string_prints_back_exactly() -> None:
    space = get_space("nb201")
    assert space.to_string(space.parse(NB201_EXAMPLE)) == NB201_EXAMPLE


# ---------------------------------------------------------------- valid-token sets


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_decode_succeeds_iff_every_token_is_valid(name: str, data: st.DataObject) -> None:
    space = get_space(name)
    tokens = data.draw(
        st.lists(
            st.integers(0, space.vocab_size - 1), min_size=space.seq_len, max_size=space.seq_len
        )
    )
    # Bias towards mostly-valid sequences so both outcomes are common.
    for p in range(space.seq_len):
        if data.draw(st.integers(0, 9)) > 0:
            tokens[p] = data.draw(st.sampled_from(space.valid_tokens(p)))
    all_valid = all(t in space.valid_tokens(p) for p, t in enumerate(tokens))
    try:
        arch = space.decode(tokens)
    except ArchError:
        assert not all_valid
        return
    assert all_valid
    assert space.encode(arch) == tokens
    # The string parser has its own range checks: it must accept what decode accepts.
    assert space.parse(space.to_string(arch)) == arch


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(data=st.data())
def test_every_valid_architecture_encodes_inside_the_valid_sets(
    name: str, data: st.DataObject
) -> None:
    space = get_space(name)
    text = data.draw(spec_strings(name))
    arch = space.parse(text)
    tokens = space.encode(arch)
    assert all(t in space.valid_tokens(p) for p, t in enumerate(tokens))
    assert space.decode(tokens) == arch
    assert space.to_string(arch) == text


@pytest.mark.parametrize(
    ("name", "sizes"),
    [
        # per node: in1 op1 in2 op2, node k has k+2 inputs; both cells alike
        ("nasnet", [n for k in range(5) for n in (k + 2, 11, k + 2, 11)] * 2),
        ("enas", [n for k in range(5) for n in (k + 2, 5, k + 2, 5)] * 2),
        # act1, then per node i>1: i-1 predecessors, 4 activations
        ("enas-rnn", [4] + [n for i in range(2, 13) for n in (i - 1, 4)]),
        ("nb201", [5] * 6),
    ],
)
def test_valid_set_sizes_follow_the_spec(name: str, sizes: list[int]) -> None:
    space = get_space(name)
    assert [len(space.valid_tokens(p)) for p in range(space.seq_len)] == sizes
    assert space.valid_mask == [
        [t in space.valid_tokens(p) for t in range(space.vocab_size)] for p in range(space.seq_len)
    ]


def test_decode_accepts_integral_tokens_but_not_bools_or_floats() -> None:
    space = get_space("nb201")
    # e.g. numpy integers from a decoder's argmax
    assert space.decode([numpy.int64(1), 2, 3, 4, 0, 1]) == space.decode([1, 2, 3, 4, 0, 1])
    with pytest.raises(ArchError, match=r"position 0 \(edge 0->1\): token True is not an integer"):
        space.decode([True, 2, 3, 4, 0, 1])
    with pytest.raises(ArchError, match=r"position 1 \(edge 0->2\): token 2.0 is not an integer"):
        space.decode([1, 2.0, 3, 4, 0, 1])


# ---------------------------------------------------------------- symmetry and canonical ids


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=8, deadline=None)
@given(seed=SEEDS)
def test_canonical_id_is_invariant_under_symmetry(name: str, seed: int) -> None:
    space = get_space(name)
    rng = random.Random(seed)
    arch = space.sample(rng)
    cid = space.canonical_id(arch)
    variants = space.symmetric_variants(arch)
    assert variants[0] == arch
    assert len(set(variants)) == len(variants)
    assert {space.canonical_id(v) for v in variants} == {cid}
    for _ in range(5):
        assert space.canonical_id(space.random_symmetric(arch, rng)) == cid
    assert space.canonical(space.canonical(arch)) == space.canonical(arch)


def test_cell_symmetries_include_branch_swaps_and_renumbering() -> None:
    space = get_space("enas")
    base = "normal[{}] reduce[{}]"
    cell = "sep_conv_3x3~0 identity~1 | sep_conv_5x5~1 sep_conv_5x5~0 | avg_pool_3x3~2 max_pool_3x3~3 | identity~0 identity~1 | identity~0 identity~1"
    swapped = "identity~1 sep_conv_3x3~0 | sep_conv_5x5~0 sep_conv_5x5~1 | max_pool_3x3~3 avg_pool_3x3~2 | identity~0 identity~1 | identity~1 identity~0"
    # nodes 0 and 1 exchanged (node 2 reads both, so it keeps its meaning)
    renumbered = "sep_conv_5x5~1 sep_conv_5x5~0 | sep_conv_3x3~0 identity~1 | avg_pool_3x3~3 max_pool_3x3~2 | identity~0 identity~1 | identity~0 identity~1"
    a = space.parse(base.format(cell, cell))
    for other in (swapped, renumbered):
        b = space.parse(base.format(other, cell))
        assert a != b and space.canonical_id(a) == space.canonical_id(b)


def test_canonical_id_separates_different_networks() -> None:
    enas = get_space("enas")
    cell = "sep_conv_3x3~0 identity~1 | sep_conv_5x5~1 sep_conv_5x5~0 | avg_pool_3x3~2 max_pool_3x3~3 | identity~0 identity~1 | identity~0 identity~1"
    a = enas.parse(f"normal[{cell}] reduce[{cell}]")
    b = enas.parse(f"normal[{cell.replace('avg_pool', 'max_pool', 1)}] reduce[{cell}]")
    c = enas.parse(f"normal[{cell}] reduce[{cell.replace('~2 ', '~1 ', 1)}]")
    assert len({enas.canonical_id(x) for x in (a, b, c)}) == 3
    # normal and reduce cells are not interchangeable
    d = enas.parse(f"normal[{cell}] reduce[{cell.replace('avg_pool', 'max_pool', 1)}]")
    assert enas.canonical_id(b) != enas.canonical_id(d)

    rnn = get_space("enas-rnn")
    chain = rnn.parse("tanh | " + " | ".join(f"{i} relu" for i in range(1, 12)))
    star = rnn.parse("tanh | " + " | ".join("1 relu" for _ in range(11)))
    star_b = rnn.parse("tanh | " + " | ".join(["1 relu"] * 10 + ["1 sigmoid"]))
    star_b2 = rnn.parse("tanh | 1 sigmoid | " + " | ".join(["1 relu"] * 10))
    assert rnn.canonical_id(chain) != rnn.canonical_id(star) != rnn.canonical_id(star_b)
    assert rnn.canonical_id(star_b) == rnn.canonical_id(star_b2)  # which node is sigmoid
    assert (
        len({get_space(n).canonical_id(get_space(n).sample(random.Random(1))) for n in NAMES}) == 4
    )


def test_rnn_renumbering_is_the_same_network() -> None:
    rnn = get_space("enas-rnn")
    # node 2 <- 1, node 3 <- 2 (relu chain) vs. the same chain hung under node 3
    a = rnn.parse("tanh | 1 relu | 2 sigmoid | 1 identity | " + " | ".join(["1 tanh"] * 8))
    b = rnn.parse("tanh | 1 identity | 1 relu | 3 sigmoid | " + " | ".join(["1 tanh"] * 8))
    assert a != b and rnn.canonical_id(a) == rnn.canonical_id(b)
    c = rnn.parse("tanh | 1 relu | 2 identity | 1 sigmoid | " + " | ".join(["1 tanh"] * 8))
    assert rnn.canonical_id(a) != rnn.canonical_id(c)


def test_nb201_ids_are_per_table_row() -> None:
    space = get_space("nb201")
    rng = random.Random(0)
    archs = space.sample_unique(200, rng)
    assert len({space.to_string(a) for a in archs}) == 200


# ---------------------------------------------------------------- sampling and mutation


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_seeded_distinct_and_valid(name: str) -> None:
    space = get_space(name)
    a = space.sample_unique(30, random.Random(7))
    b = space.sample_unique(30, random.Random(7))
    assert a == b
    assert len({space.canonical_id(x) for x in a}) == 30
    assert all(space.is_valid_tokens(space.encode(x)) for x in a)
    assert a != space.sample_unique(30, random.Random(8))
    exclude = {space.canonical_id(x) for x in a[:10]}
    more = space.sample_unique(10, random.Random(7), exclude=exclude)
    assert not exclude & {space.canonical_id(x) for x in more}


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(seed=SEEDS)
def test_mutate_changes_exactly_one_token(name: str, seed: int) -> None:
    space = get_space(name)
    rng = random.Random(seed)
    arch = space.sample(rng)
    child = space.mutate(arch, rng)
    assert space.hamming(space.encode(arch), space.encode(child)) == 1
    assert space.is_valid_tokens(space.encode(child))


def test_unknown_space_names_the_choices() -> None:
    with pytest.raises(ArchError, match=r"^space: unknown space 'darts'; expected one of nasnet"):
        get_space("darts")
