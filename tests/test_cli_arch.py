"""`nao arch` through the CLI, and the corpus of malformed architectures, configs and pool lines:
each gives its one-line message in-process, and exit 2 with that one line (no traceback) from a
real `python -m nao_kfp.cli` subprocess."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cli_batch import Result, run_batch

from nao_kfp.cli import main
from nao_kfp.config import TRAIN_IMAGES
from nao_kfp.spaces import get_space

NAONET_A = "0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7 0 7 1 13 0 6 0 14 0 9 1 10 0 14 2 6 1 11 0 7"
NAONET_B = "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3 1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2"
NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# A valid enas cell and an architecture built from it; malformed cases change one part.
CELL = (
    "identity~0 avg_pool_3x3~0 | max_pool_3x3~2 identity~2 | identity~0 max_pool_3x3~0 | "
    "identity~2 sep_conv_5x5~1 | max_pool_3x3~5 identity~4"
)
ENAS = f"normal[{CELL}] reduce[{CELL}]"
RNN = "relu | 1 identity | 2 tanh | 3 tanh | 4 identity | 5 relu | 2 sigmoid | 5 sigmoid | 7 relu | 4 relu | 9 sigmoid | 1 tanh"
ENAS_OPS = "sep_conv_3x3, sep_conv_5x5, avg_pool_3x3, max_pool_3x3, identity"
NB201_OPS = "none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"


def cli(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nao_kfp.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    message: str  # the one line after "nao: error: "; {tmp} is the case's directory
    files: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None


def arch(space: str, text: str, message: str, *extra: str) -> Case:
    return Case(
        f"arch-{space}-{len(CASES)}", ("arch", "show", "--space", space, *extra, text), message
    )


def conf(message: str, *sets: str, yaml_text: str | None = None) -> Case:
    argv: tuple[str, ...] = ("config", "show")
    files = {}
    if yaml_text is not None:
        files["c.yaml"] = yaml_text
        argv += ("--config", "{tmp}/c.yaml")
    for s in sets:
        argv += ("--set", s)
    return Case(f"config-{len(CASES)}", argv, message, files)


def pool(line: str, message: str) -> Case:
    files = {
        "pool.jsonl": json.dumps({"arch": NB201, "space": "nb201", "accuracy": 0.5})
        + "\n"
        + line
        + "\n"
    }
    return Case(
        f"pool-{len(CASES)}",
        ("pool", "check", "{tmp}/pool.jsonl"),
        "{tmp}/pool.jsonl:2: " + message,
        files,
    )


CASES: list[Case] = []
_add = CASES.append
# ---------------------------------------------------------------- cell spaces, native form
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 avg", "identity~2 avg", 1),
        "normal cell node 0 branch 1: input 2 is out of range; expected 0..1 (0-1 the cell inputs, j+2 an earlier node j)",
    )
)
_add(
    arch(
        "enas",
        f"normal[{CELL}] reduce[{CELL.replace('identity~2 | ', 'conv_3x3~2 | ', 1)}]",
        f"reduce cell node 1 branch 2: unknown op 'conv_3x3'; expected one of {ENAS_OPS}",
    )
)
_add(
    arch(
        "enas",
        f"normal[{CELL.rsplit(' | ', 1)[0]}] reduce[{CELL}]",
        "normal cell: expected 5 nodes separated by '|', got 4",
    )
)
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 max_pool_3x3~0", "identity~0 max_pool_3x3~0 identity~1", 1),
        "normal cell node 2: expected two branches 'op~input op~input', got 'identity~0 max_pool_3x3~0 identity~1'",
    )
)
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 avg", "identity avg", 1),
        "normal cell node 0 branch 1: expected op~input, got 'identity'",
    )
)
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 avg", "identity~x avg", 1),
        "normal cell node 0 branch 1 input: expected an integer, got 'x'",
    )
)
_add(arch("enas", f"normal[{CELL}]", "enas: missing reduce[...] cell"))
_add(arch("enas", f"normal[{CELL}] normal[{CELL}]", "enas: normal cell given twice"))
_add(arch("enas", "resnet50", "enas: expected normal[...] at 'resnet50'"))
_add(
    arch(
        "nasnet",
        ENAS,
        "normal cell node 3 branch 2: unknown op 'sep_conv_5x5'; expected one of identity, conv_1x1, conv_3x3, conv_1x3_3x1, conv_1x7_7x1, max_pool_2x2, max_pool_3x3, max_pool_5x5, avg_pool_2x2, avg_pool_3x3, avg_pool_5x5",
    )
)
# ---------------------------------------------------------------- official integer form
_add(
    arch(
        "nasnet",
        NAONET_A.rsplit(" ", 1)[0],
        "nasnet official sequence: expected 40 integers, got 39",
        "--format",
        "official",
    )
)
_add(
    arch(
        "nasnet",
        "0 3 " + NAONET_A[4:],
        "position 1 (normal cell node 0 op 1): op id 3 is not a nasnet op; expected 5..15",
        "--format",
        "official",
    )
)
_add(
    arch(
        "enas",
        "3" + NAONET_B[1:],
        "position 0 (normal cell node 0 input 1): input 3 is out of range; expected 0..1",
        "--format",
        "official",
    )
)
_add(
    arch(
        "enas",
        NAONET_B.replace("2", "a", 1),
        "enas official sequence item 3: expected an integer, got 'a'",
        "--format",
        "official",
    )
)
_add(
    arch(
        "nb201",
        NB201,
        "--format official: the nb201 space has no official NAO form; expected nasnet or enas",
        "--format",
        "official",
    )
)
_add(
    Case(
        "convert-to-official-rnn",
        ("arch", "convert", "--space", "enas-rnn", "--from", "native", "--to", "official", RNN),
        "--to official: the enas-rnn space has no official NAO form; expected nasnet or enas",
    )
)
# ---------------------------------------------------------------- enas-rnn
_add(
    arch(
        "enas-rnn", RNN.rsplit(" | ", 1)[0], "enas-rnn: expected 12 nodes separated by '|', got 11"
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("2 tanh", "3 tanh", 1),
        "enas-rnn node 3: predecessor 3 is out of range; expected 1..2",
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("relu", "gelu", 1),
        "enas-rnn node 1: unknown activation 'gelu'; expected one of tanh, relu, identity, sigmoid",
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("1 identity", "identity", 1),
        "enas-rnn node 2: expected 'predecessor activation', got 'identity'",
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("1 identity", "one identity", 1),
        "enas-rnn node 2 predecessor: expected an integer, got 'one'",
    )
)
# ---------------------------------------------------------------- nb201
_add(
    arch(
        "nb201",
        "|none~0|+|none~0|none~1|",
        "nb201: expected 3 node groups joined by '+', got 2 in '|none~0|+|none~0|none~1|'",
    )
)
_add(arch("nb201", NB201.replace("~0", "~1", 1), "nb201 edge 0->1: expected input 0, got '1'"))
_add(
    arch(
        "nb201",
        NB201.replace("avg_pool_3x3", "conv_3x3"),
        f"nb201 edge 1->2: unknown op 'conv_3x3'; expected one of {NB201_OPS}",
    )
)
_add(
    arch(
        "nb201",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "nb201 node 2: expected 2 edge(s), got 1 in '|none~0|'",
    )
)
# ---------------------------------------------------------------- configs
_add(
    conf(
        "controller.hiden_size: unknown key (did you mean hidden_size?)", "controller.hiden_size=64"
    )
)
_add(conf("search.rounds: expected an integer, got 'three'", "search.rounds=three"))
_add(conf("search.rounds: expected a positive number, got -1", "search.rounds=-1"))
_add(conf("search.rounds: expected a positive number, got 0", "search.rounds=0"))
_add(conf("search.eta: expected a finite number, got nan", "search.eta=.nan"))
_add(conf("child.lr_max: expected a finite number, got inf", "child.lr_max=.inf"))
_add(
    conf(
        "evaluator.kind: unknown evaluator 'lookup' (expected one of: train, table, synthetic)",
        "evaluator.kind=lookup",
    )
)
_add(
    conf("evaluator.table: required for evaluator.kind table (a CSV file)", "evaluator.kind=table")
)
_add(conf("search.fill: expected one of random, none, got 'zeros'", "search.fill=zeros"))
_add(
    conf(
        "search.top_k: 50 seeds but only 16 initial architectures (search.initial_archs)",
        "search.initial_archs=16",
        "search.top_k=50",
    )
)
_add(
    conf(
        "search.space: unknown space 'darts' (expected one of: nasnet, enas, enas-rnn, nb201)",
        "search.space=darts",
    )
)
_add(
    conf(
        "child.dataset: 'ptb' does not fit search.space 'enas' (ptb goes with enas-rnn only)",
        "search.space=enas",
        "child.dataset=ptb",
    )
)
_add(conf("controller.trade_off: expected a value in [0, 1], got 1.5", "controller.trade_off=1.5"))
_add(conf("cluster.image: 'nao:latest' uses :latest; pin a version", "cluster.image=nao:latest"))
_add(conf("child.amp: expected true/false, got 'maybe'", "child.amp=maybe"))
_add(conf("search.eta_max: 1.0 is below search.eta 10.0", "search.eta=10", "search.eta_max=1"))
_add(
    conf(
        f"child.dev_size: 1700 dev + 200 train images do not fit in digits's {TRAIN_IMAGES['digits']} training images",
        "child.dev_size=1700",
        "child.train_subset=200",
    )
)
_add(conf("--set search.rounds: expected KEY=VALUE, e.g. search.rounds=3", "search.rounds"))
_add(conf("search: expected a mapping of keys, got int", yaml_text="search: 3\n"))
_add(conf("controler: unknown key (did you mean controller?)", yaml_text="controler:\n  lr: 0.1\n"))
_add(
    conf(
        "cluster.tolerations[0].foo: unknown key (expected key, operator, value, effect)",
        "cluster.tolerations=[{key: gpu, foo: bar}]",
    )
)
_add(conf("cluster.node_selector: expected a mapping, got ['a']", "cluster.node_selector=[a]"))
_add(conf("{tmp}/c.yaml: expected a mapping at the top level", yaml_text="- search\n"))
# ---------------------------------------------------------------- pool lines
_add(
    pool(
        "{not json",
        "not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    )
)
_add(pool(json.dumps({"space": "nb201", "accuracy": 0.5}), "missing required key 'arch'"))
_add(
    pool(
        json.dumps({"arch": NB201, "space": "darts"}),
        "space: unknown space 'darts'; expected one of nasnet, enas, enas-rnn, nb201",
    )
)
_add(
    pool(
        json.dumps({"arch": NB201.replace("~1", "~0", 1), "space": "nb201"}),
        "arch: nb201 edge 1->2: expected input 1, got '0'",
    )
)
_add(
    pool(
        json.dumps({"arch": NB201, "space": "nb201", "accuracy": "0.9"}),
        "accuracy: expected a number or null, got '0.9'",
    )
)
_add(
    pool(
        json.dumps({"arch": NB201, "space": "nb201", "status": "ok"}),
        "accuracy: status ok needs a number",
    )
)
_add(
    pool(
        json.dumps({"arch": NB201, "space": "nb201", "status": "done"}),
        "status: expected one of ok, failed, pending, got 'done'",
    )
)
_add(
    pool(
        json.dumps({"arch": NB201, "space": "nb201", "id": "abc"}),
        f"id: 'abc' does not match the architecture (expected {get_space('nb201').canonical_id(get_space('nb201').parse(NB201))})",
    )
)
_add(pool(json.dumps([NB201, "nb201"]), "expected a JSON object, got list"))
_add(
    pool(
        json.dumps({"arch": NB201, "space": "nb201", "accuracy": 0.5, "status": "failed"}),
        "accuracy: status failed needs null, got 0.5",
    )
)
_add(
    pool(
        json.dumps({"arch": NB201, "space": "nb201", "accuracy": math.nan}),
        "accuracy: nan is not allowed; use null with status failed",
    )
)
_add(pool(json.dumps({"arch": 3, "space": "nb201"}), "arch: expected a string, got 3"))


def materialize(case: Case, root: Path) -> tuple[list[str], str]:
    tmp = root / case.id
    tmp.mkdir(parents=True, exist_ok=True)
    for name, text in case.files.items():
        (tmp / name).write_text(text)
    argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
    return argv, case.message.replace("{tmp}", str(tmp))


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Result, str]]:
    """Every corpus case as its own `nao` process (forked from one interpreter: see cli_batch)."""
    root = tmp_path_factory.mktemp("corpus-cli")
    prepared = [(c, *materialize(c, root)) for c in CASES]
    results = run_batch([(argv, c.stdin) for c, argv, _m in prepared], root)
    return {c.id: (r, message) for (c, _a, message), r in zip(prepared, results, strict=True)}


def test_corpus_is_big_enough_and_ids_unique() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_message(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, message = materialize(case, tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"nao: error: {message}\n"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_through_the_cli(
    case: Case, cli_results: dict[str, tuple[Result, str]]
) -> None:
    proc, message = cli_results[case.id]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"nao: error: {message}"]
    assert proc.stdout == ""


# ---------------------------------------------------------------- the working commands


def test_naonet_round_trips_through_the_cli(tmp_path: Path) -> None:
    convert = ["arch", "convert", "--space"]
    there = run_batch(
        [
            ([*convert, "nasnet", "--from", "official", "--to", "native", NAONET_A], None),
            ([*convert, "enas", "--from", "official", "--to", "native", "-"], NAONET_B + "\n"),
        ],
        tmp_path,
    )
    for r in there:
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("\n") == 1 and r.stdout.startswith("normal[")
    back = run_batch(
        [
            ([*convert, "nasnet", "--from", "native", "--to", "official", "-"], there[0].stdout),
            (
                [*convert, "enas", "--from", "native", "--to", "official", there[1].stdout.strip()],
                None,
            ),
        ],
        tmp_path,
    )
    assert [r.stdout for r in back] == [NAONET_A + "\n", NAONET_B + "\n"]


def test_show_nb201_prints_the_string_back_first() -> None:
    proc = cli("arch", "show", "--space", "nb201", NB201)  # a plain `python -m nao_kfp.cli`
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    space = get_space("nb201")
    assert lines[0] == NB201
    assert lines[1] == f"id: {space.canonical_id(space.parse(NB201))}"
    assert lines[2:] == space.describe(space.parse(NB201)).splitlines()


def test_show_official_input_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["arch", "show", "--space", "nasnet", "--format", "official", NAONET_A]) == 0
    lines = capsys.readouterr().out.splitlines()
    space = get_space("nasnet")
    arch = space.parse_official(NAONET_A)  # type: ignore[attr-defined]
    assert lines[:3] == [
        space.to_string(arch),
        f"id: {space.canonical_id(arch)}",
        f"official: {NAONET_A}",
    ]
    assert "normal cell:" in lines and "reduce cell:" in lines

    assert main(["arch", "show", "--space", "enas-rnn", "--json", RNN]) == 0
    rec = json.loads(capsys.readouterr().out)
    rnn = get_space("enas-rnn")
    assert rec["arch"] == RNN and rec["space"] == "enas-rnn"
    assert rec["id"] == rnn.canonical_id(rnn.parse(RNN))
    assert rnn.decode(rec["tokens"]) == rnn.parse(RNN)
    assert rnn.from_json(rec["json"]) == rnn.parse(RNN)
    assert rnn.canonical_id(rnn.parse(rec["canonical"])) == rec["id"]


def test_show_reads_one_architecture_per_stdin_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    other = NB201.replace("skip_connect~2", "none~2")
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{NB201}\n\n{other}\n"))
    assert main(["arch", "show", "--space", "nb201", "--json", "-"]) == 0
    assert [json.loads(x)["arch"] for x in capsys.readouterr().out.splitlines()] == [NB201, other]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["arch", "show", "--space", "nb201", "-"]) == 2
    assert (
        capsys.readouterr().err
        == "nao: error: ARCH: stdin is empty; expected one architecture per line\n"
    )


@pytest.mark.parametrize("space_name", ["nasnet", "enas", "enas-rnn", "nb201"])
def test_sample_prints_distinct_pending_records_per_seed(
    space_name: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from nao_kfp.pool import read_pool

    assert main(["arch", "sample", "--space", space_name, "--count", "12", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert main(["arch", "sample", "--space", space_name, "--count", "12", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first
    assert main(["arch", "sample", "--space", space_name, "--count", "12", "--seed", "4"]) == 0
    assert capsys.readouterr().out != first
    (tmp_path / "p.jsonl").write_text(first)
    entries = read_pool(tmp_path / "p.jsonl")
    assert len(entries) == 12 and len({e.id for e in entries}) == 12
    assert {e.status for e in entries} == {"pending"} and {e.space for e in entries} == {space_name}


def test_sample_rejects_impossible_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["arch", "sample", "--space", "nb201", "--count", "15626"]) == 2
    assert (
        capsys.readouterr().err
        == "nao: error: --count: expected 1..15625 for the nb201 space, got 15626\n"
    )
    assert main(["arch", "sample", "--space", "nb201", "--count", "0"]) == 2


def test_argparse_errors_are_one_line(tmp_path: Path) -> None:
    (r,) = run_batch([(["arch", "show", "--space", "darts", NB201], None)], tmp_path)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and "invalid choice: 'darts'" in r.stderr


def test_cli_does_not_import_torch_or_kfp() -> None:
    code = (
        "import sys; from nao_kfp.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'kfp', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
