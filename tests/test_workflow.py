"""The CI workflow file: parses, validates against the GitHub workflow schema (vendored by
check-jsonschema, offline), and does what the reproducibility issue asks."""

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "reproduce.yml"


def validate(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return subprocess.run(
        [exe, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_workflow_is_valid_against_the_offline_schema():
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_catches_a_broken_workflow(tmp_path):
    doc = yaml.safe_load(WORKFLOW.read_text())
    del doc["jobs"]["local"]["runs-on"]
    doc["jobs"]["local"]["steps"][0]["uses"] = 3
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(doc))
    assert validate(bad).returncode != 0


def test_workflow_runs_the_local_check_and_submits_with_secrets():
    text = WORKFLOW.read_text()
    doc = yaml.safe_load(text)
    jobs = doc["jobs"]
    local_runs = " ".join(s.get("run", "") for s in jobs["local"]["steps"])
    assert "nao reproduce" in local_runs and "python -m nao_kfp.pipelines.reproduce" in local_runs
    kube = jobs["kubeflow"]
    assert kube["needs"] == "local"
    assert kube["env"]["KFP_HOST"] == "${{ secrets.KFP_HOST }}"
    submit = " ".join(s.get("run", "") for s in kube["steps"])
    assert "create_run_from_pipeline_package" in submit and "wait_for_run_completion" in submit
    # every action is pinned to a major version at least
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert "@" in step["uses"]


def test_embedded_submit_snippet_compiles():
    doc = yaml.safe_load(WORKFLOW.read_text())
    bodies = [
        s["run"].split("<<'PY'\n", 1)[1].rsplit("PY", 1)[0]
        for s in doc["jobs"]["kubeflow"]["steps"]
        if "<<'PY'" in s.get("run", "")
    ]
    assert len(bodies) == 1
    compile(bodies[0], "workflow-snippet", "exec")
