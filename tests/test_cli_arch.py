"""`nao arch` through the CLI: show, convert and sample, in-process and as real processes.
(Malformed architectures, configs and pool lines are in the corpus, tests/test_bad_inputs.py.)"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_batch import run_batch
from corpus import NAONET_A, NAONET_B, NB201, RNN

from nao_kfp.cli import main
from nao_kfp.spaces import get_space


def cli(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nao_kfp.cli", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


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
