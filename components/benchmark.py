"""Components of the reproducibility pipeline: one strategy on a generated table, then compare.

Each body is a call into nao_kfp.strategies.reproduce (tested without KFP); the project image
(components/_base.py) has the package installed, so nothing is pip-installed at pod start.
"""

from kfp.dsl import Artifact, Input, Metrics, Output
from nao_kfp.components._base import component


@component
def tabular_strategy(spec_json: str, strategy: str, results: Output[Artifact]) -> None:
    """Run one strategy of the reproduce spec (every budget and seed) on the spec's generated
    table with portable numerics (the same floats on any x86-64 CPU); write its results document
    (JSON, with the machine it ran on) to `results`."""
    import json
    from pathlib import Path

    from nao_kfp.numerics import pin

    pin()  # before torch loads
    from nao_kfp.records import to_dict
    from nao_kfp.strategies.reproduce import ReproduceSpec, machine, run_strategy

    doc = run_strategy(ReproduceSpec.from_dict(json.loads(spec_json)), strategy)
    doc.machine = machine()
    Path(results.path).write_text(json.dumps(to_dict(doc), sort_keys=True))


@component
def compare_reference(
    reference_json: str,
    results: Input[list[Artifact]],
    merged: Output[Artifact],
    metrics: Output[Metrics],
    check: bool = True,
) -> None:
    """Merge the per-strategy results and fail (ReproduceError naming strategy, budget, seed and
    both values) on any difference from the reference; with check=False only merge."""
    import json

    from nao_kfp.strategies.reproduce import ReproduceSpec, compare_files, merge_files
    from nao_kfp.strategies.runner import write_results

    paths = [r.path for r in results]
    if check:
        doc = compare_files(reference_json, paths)
    else:
        doc = merge_files(ReproduceSpec.from_dict(json.loads(reference_json)["spec"]), paths)
    write_results(merged.path, doc)
    for s in doc.summary:
        metrics.log_metric(f"{s.strategy}@{s.budget}", round(s.mean, 4))
