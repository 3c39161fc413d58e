"""The container images: hadolint-clean Dockerfiles that install this package, pinned throughout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import nao_kfp
from nao_kfp.config import ClusterConfig
from nao_kfp.katib import STUBS

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = sorted((ROOT / "images").glob("Dockerfile*"))
BY_NAME = pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    here = Path(sys.executable).parent / "hadolint"
    binary = str(here) if here.exists() else shutil.which("hadolint")
    assert binary, "hadolint not found: install the test extra (pip install -e '.[test]')"
    # From the repo root, so a .hadolint.yaml there (if ever needed) applies.
    return subprocess.run(
        [binary, "--no-color", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _args(path: Path) -> dict[str, str]:
    return dict(a.split("=", 1) for kind, a in _instructions(path) if kind == "ARG" and "=" in a)


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} == {"Dockerfile", "Dockerfile.cpu"}


@BY_NAME
def test_hadolint_clean(dockerfile: Path) -> None:
    result = hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    """Guard: the lint above fails on what we promise to avoid (:latest, pip cache, root)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install torch\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # :latest


def _expand(text: str, args: dict[str, str]) -> str:
    """$NAME and ${NAME} replaced by the ARG defaults (a FROM may take its base as a build arg)."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


@BY_NAME
def test_base_is_pinned_and_user_is_not_root(dockerfile: Path) -> None:
    steps = _instructions(dockerfile)
    bases = [_expand(a, _args(dockerfile)) for kind, a in steps if kind == "FROM"]
    assert bases and all(re.search(r":\d[\w.-]*", b) or "@sha256:" in b for b in bases), bases
    users = [a for kind, a in steps if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    uid = _args(dockerfile).get("UID", "0") if users[-1] == "$UID" else users[-1]
    assert uid != "0"


@BY_NAME
def test_installs_this_package_without_cache(dockerfile: Path) -> None:
    runs = [a for kind, a in _instructions(dockerfile) if kind == "RUN"]
    pip = [r for r in runs if "pip install" in r]
    assert pip and all("--no-cache-dir" in r for r in pip)
    # the package with its serve extra (`nao serve` is the InferenceService's predictor) and
    # its katib extra (`nao katib serve`), then Katib's gRPC stubs without their dependencies
    assert any(re.search(r'pip install --no-cache-dir "\./\[serve,katib\]"(\s|$)', r) for r in runs)
    stubs = 'pip install --no-cache-dir --no-deps "kubeflow-katib==${KATIB_VERSION}"'
    assert any(stubs in r for r in runs)
    copied = {a.split()[0] for kind, a in _instructions(dockerfile) if kind == "COPY"}
    assert {"pyproject.toml", "src", "components", "pipelines"} <= copied


@BY_NAME
def test_torch_pins_equal_pyproject(dockerfile: Path) -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(d.split("==", 1) for d in deps if "==" in d)
    args = _args(dockerfile)
    assert args["TORCH_VERSION"] == pins["torch"]
    assert args["TORCHVISION_VERSION"] == pins["torchvision"]
    serve = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert serve["serve"] == [f"kserve=={args['KSERVE_VERSION']}"]
    assert f"kubeflow-katib=={args['KATIB_VERSION']}" == STUBS  # what `make venv` installs


def test_dockerignore_keeps_what_the_images_copy() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"  # an allow-list: nothing enters the build context by accident
    allowed = {r[1:].rstrip("/") for r in rules if r.startswith("!")}
    for dockerfile in DOCKERFILES:
        for kind, a in _instructions(dockerfile):
            if kind == "COPY":
                assert set(a.split()[:-1]) <= allowed, a


def test_default_image_is_tagged_with_the_package_version() -> None:
    image = ClusterConfig().image
    assert image.rsplit(":", 1) == ["ghcr.io/nao-kfp/nao-kfp", nao_kfp.__version__]
