"""The reproducibility pipeline (CPU only): a small tabular benchmark on a generated table,
compared against the committed reference JSON.

    1. one task per strategy (nao, random-unseeded, evolution-unseeded): every budget and seed
    2. compare: merge the results and fail on any difference from the reference

The spec (table seed and size, budgets, seeds, config) travels inside the reference document, so
the pipeline reruns exactly what produced it. Compile with `python -m nao_kfp.pipelines.reproduce
OUT.yaml`; run locally with `nao reproduce` (kfp.local, SubprocessRunner(use_venv=False)).
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from kfp import compiler, dsl, local
from nao_kfp.components.benchmark import compare_reference, tabular_strategy
from nao_kfp.pipelines.local import FlatPrint, flat_kfp_output

from nao_kfp.records import BenchmarkResults, to_dict
from nao_kfp.strategies.reproduce import (
    REFERENCE_PATH,
    ReproduceError,
    ReproduceSpec,
    check_reproduction,
    load_reference,
    merge_files,
    read_reference,
)
from nao_kfp.strategies.runner import write_results


def reference_text(path: str | Path = REFERENCE_PATH, *, allow_missing: bool = False) -> str:
    """The reference as text; a missing one (only when writing it) is the default spec alone."""
    if allow_missing and not Path(path).exists():
        return json.dumps({"spec": ReproduceSpec().to_dict()}, sort_keys=True)
    spec, reference = read_reference(path)
    doc = to_dict(reference) if reference is not None else {"spec": spec.to_dict()}
    return json.dumps(doc, sort_keys=True)


def make_pipeline(reference: str) -> Any:
    """The pipeline for one reference document (its spec fixes the strategies and the table)."""
    spec = ReproduceSpec.from_dict(json.loads(reference)["spec"])
    spec_json = json.dumps(spec.to_dict(), sort_keys=True)

    @dsl.pipeline(
        name="nao-reproduce",
        description="Tabular NAO / random / evolution benchmark compared with a committed reference",
    )
    def reproduce(reference_json: str = reference, check: bool = True) -> dsl.Artifact:
        with dsl.ParallelFor(list(spec.strategies), parallelism=len(spec.strategies)) as strategy:
            run = tabular_strategy(spec_json=spec_json, strategy=strategy)
            run.set_display_name("run-strategy").set_caching_options(False)
        compare = compare_reference(
            reference_json=reference_json,
            results=dsl.Collected(run.outputs["results"]),
            check=check,
        )
        compare.set_display_name("compare-with-reference").set_caching_options(False)
        return compare.outputs["merged"]

    return reproduce


def compile_pipeline(out: str | Path, reference: str | Path = REFERENCE_PATH) -> Path:
    out = Path(out)
    compiler.Compiler().compile(make_pipeline(reference_text(reference)), str(out))
    return out


def run_local(
    reference: str | Path = REFERENCE_PATH,
    *,
    update: bool = False,
    pipeline_root: Path | None = None,
) -> BenchmarkResults:
    """Run the pipeline through kfp.local; compare (or, with update, rewrite the reference).
    Returns the merged results; raises ReproduceError on any difference."""

    # only an update may start from a spec alone (or no file): a check needs the results
    expected = None if update else load_reference(reference)
    if expected is None:
        text = reference_text(reference, allow_missing=True)
    else:
        text = json.dumps(to_dict(expected), sort_keys=True)
    spec = ReproduceSpec.from_dict(json.loads(text)["spec"])
    root = Path(pipeline_root or tempfile.mkdtemp(prefix="nao-reproduce-"))
    local.init(
        runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=False
    )
    before = set(root.iterdir()) if root.exists() else set()
    # kfp.local's per-task print swaps, raced by the parallel strategy tasks, would leave print
    # indented after the run (as for `nao search`)
    flat = FlatPrint()
    with flat_kfp_output(sys.stderr, flat):
        task = make_pipeline(text)(check=not update)
    # only this run's outputs: a reused pipeline root keeps earlier runs beside it
    results = sorted(p for run in set(root.iterdir()) - before for p in run.rglob("results"))
    if len(results) != len(spec.strategies):
        raise ReproduceError(f"reproduce: a strategy step failed; see the task logs under {root}")
    # the same comparison the compare step made, in-process, so a difference surfaces as one line
    merged = merge_files(spec, results)
    if expected is None:
        write_results(reference, merged)
        return merged
    check_reproduction(expected, merged)
    if not Path(task.output.path).exists():
        raise ReproduceError(f"reproduce: the compare step failed; see the task logs under {root}")
    return merged


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="compile the reproducibility pipeline")
    p.add_argument("out", type=Path, help="pipeline YAML to write")
    p.add_argument("--reference", type=Path, default=REFERENCE_PATH)
    args = p.parse_args(argv)
    print(compile_pipeline(args.out, args.reference))


if __name__ == "__main__":
    main()
