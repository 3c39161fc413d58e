"""`nao benchmark`: argument parsing, the printed summary and the results JSON schema."""

import json
import statistics

import pytest

from nao_kfp.cli import main
from nao_kfp.spaces import get_space
from nao_kfp.strategies.runner import ArgError, check_results, parse_int_list
from nao_kfp.tabular import TableSpec, generate_table, write_table

NB201 = get_space("nb201")


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("tab") / "table.csv"
    write_table(path, generate_table(NB201, TableSpec(seed=11, rows=400)))
    return path


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_results_json_has_every_per_seed_value(table_csv, tmp_path, capsys):
    out_json, out_png = tmp_path / "r.json", tmp_path / "r.png"
    code, out, _ = run_cli(
        [
            "benchmark",
            "--space",
            "nb201",
            "--table",
            str(table_csv),
            "--strategy",
            "random,evolution",
            "--queries",
            "25,10",
            "--seeds",
            "0-2",
            "--json",
            str(out_json),
            "--plot",
            str(out_png),
            "--population",
            "6",
            "--tournament",
            "2",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0
    doc = json.loads(out_json.read_text())
    check_results(doc)
    assert doc["budgets"] == [10, 25] and doc["seeds"] == [0, 1, 2] and doc["reported"] == "test"
    assert doc["strategies"] == ["random", "evolution"] and doc["table"]["rows"] == 400
    assert doc["settings"]["evolution"]["config"]["population"] == 6
    assert len(doc["runs"]) == 2 * 2 * 3
    for r in doc["runs"]:
        # each value is the test accuracy of the best-by-valid arch among the first `budget` queries
        hist = doc["histories"][r["strategy"]][str(r["seed"])][: r["budget"]]
        best = max(hist, key=lambda h: h[2])
        assert (r["arch"], r["valid"], r["reported"]) == (best[1], best[2], best[3])
        assert doc["curves"][r["strategy"]][str(r["seed"])][r["budget"] - 1] == r["reported"]
    for s in doc["summary"]:
        values = [
            r["reported"]
            for r in doc["runs"]
            if (r["strategy"], r["budget"]) == (s["strategy"], s["budget"])
        ]
        assert s["mean"] == pytest.approx(statistics.fmean(values))
        assert s["std"] == pytest.approx(statistics.stdev(values)) and s["n"] == 3
        assert f"{s['mean']:.2f} ± {s['std']:.2f}" in out
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_is_deterministic(table_csv, tmp_path, capsys):
    docs = []
    for name in ("a", "b"):
        args = [
            "benchmark",
            "--space",
            "nb201",
            "--table",
            str(table_csv),
            "--strategy",
            "evolution",
            "--queries",
            "15",
            "--seeds",
            "4,6",
            "--json",
            str(tmp_path / f"{name}.json"),
            "--quiet",
        ]
        assert run_cli(args, capsys)[0] == 0
        doc = json.loads((tmp_path / f"{name}.json").read_text())
        doc.pop("seconds")
        docs.append(doc)
    assert docs[0] == docs[1]


def test_check_results_rejects_a_missing_run(table_csv, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    run_cli(
        [
            "benchmark",
            "--space",
            "nb201",
            "--table",
            str(table_csv),
            "--strategy",
            "random",
            "--queries",
            "5",
            "--seeds",
            "0-1",
            "--json",
            str(out_json),
            "--quiet",
        ],
        capsys,
    )
    doc = json.loads(out_json.read_text())
    doc["runs"].pop()
    with pytest.raises(ArgError, match="runs: missing"):
        check_results(doc)


@pytest.mark.parametrize(
    "text, expected",
    [("0-9", list(range(10))), ("0,3,5", [0, 3, 5]), ("5,0-2,2", [0, 1, 2, 5]), ("7", [7])],
)
def test_parse_seeds(text, expected):
    assert parse_int_list(text, "--seeds") == expected


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--seeds", "9-0", "--seeds 9-0: range 9-0 ends below its start"),
        ("--seeds", "a,b", "--seeds a,b: expected integers like 0-9 or 0,3,5, got 'a'"),
        ("--queries", "0,10", "--queries 0,10: 0 is below the minimum 1"),
        ("--strategy", "nao,greedy", "--strategy: unknown name 'greedy'"),
    ],
)
def test_bad_arguments_are_one_line_errors(table_csv, capsys, flag, value, message):
    args = ["benchmark", "--space", "nb201", "--table", str(table_csv), "--quiet", flag, value]
    code, _, err = run_cli(args, capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_table_row_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,valid\n|none~0|+|none~0|none~1|+|none~0|none~1|conv~2|,10\n")
    code, _, err = run_cli(
        [
            "benchmark",
            "--space",
            "nb201",
            "--table",
            str(bad),
            "--strategy",
            "random",
            "--queries",
            "1",
            "--seeds",
            "0",
        ],
        capsys,
    )
    assert code == 2 and f"{bad}:2: arch: nb201 edge 2->3: unknown op 'conv'" in err


def test_nao_unavailable_mode_reaches_the_strategy_and_the_results(table_csv, tmp_path, capsys):
    out_json = tmp_path / "r.json"
    args = ["benchmark", "--space", "nb201", "--table", str(table_csv), "--strategy", "nao"]
    args += ["--queries", "14", "--seeds", "0", "--json", str(out_json), "--quiet"]
    args += ["--set", "controller.epochs=3", "--nao-unavailable", "skip"]
    assert run_cli(args, capsys)[0] == 0
    doc = json.loads(out_json.read_text())
    assert doc["settings"]["nao"]["config"]["evaluator"]["unavailable"] == "skip"


def test_summary_quotes_nao_minus_each_strategy_in_standard_errors():
    from nao_kfp.records import BenchmarkResults, BenchSummary, TableInfo
    from nao_kfp.strategies.runner import format_summary

    def cell(name, budget, mean, sem):
        return BenchSummary(name, budget, mean, std=sem * 2, n=4, sem=sem)

    doc = BenchmarkResults(
        space="nb201",
        table=TableInfo("t.csv", 10, "ab", "percent", has_test=True),
        reported="test",
        strategies=["nao", "evolution"],
        budgets=[100, 200],
        seeds=[0, 1, 2, 3],
        runs=[],
        summary=[
            cell("nao", 100, 72.6, 0.12),
            cell("evolution", 100, 72.1, 0.16),
            cell("nao", 200, 72.4, 0.0),
            cell("evolution", 200, 72.5, 0.0),
        ],  # fmt: skip
    )
    # 0.5 / hypot(0.12, 0.16) = 0.5 / 0.2 = 2.5 standard errors of the difference
    assert "nao - evolution: @100 +0.50 (+2.5 SE), @200 -0.10 (SE 0)" in format_summary(doc)
    doc.strategies = ["evolution"]
    assert "nao -" not in format_summary(doc)


def test_by_default_nao_meets_the_seeded_baselines_the_unseeded_ones_and_params(
    table_csv, tmp_path, capsys
):
    out_json = tmp_path / "r.json"
    args = ["benchmark", "--space", "nb201", "--table", str(table_csv), "--queries", "12"]
    args += ["--seeds", "0", "--json", str(out_json), "--quiet", "--set", "controller.epochs=3"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0
    doc = json.loads(out_json.read_text())
    names = ["nao", "evolution", "random", "evolution-unseeded", "random-unseeded", "params"]
    assert doc["strategies"] == names
    # the nb201 preset seeds NAO's 10 initial cells by zero-cost proxies; so do the baselines
    nao_first = [h[1] for h in doc["histories"]["nao"]["0"][:10]]
    for name in ("evolution", "random"):
        assert [h[1] for h in doc["histories"][name]["0"][:10]] == nao_first
        assert "search.proxy_seed" in doc["settings"][name]["start"]
    assert "start" not in doc["settings"]["evolution-unseeded"]
    assert {h[4] for h in doc["histories"]["params"]["0"]} == {"params"}
    assert [line.split()[0] for line in out.splitlines()[2:8]] == names
