"""Every subpackage is in pyproject's explicit package list: an editable install finds a
missing one anyway, the image's wheel does not (found when the image's first task failed)."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_packaged() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    src = ROOT / "src"
    found = {
        ".".join(p.parent.relative_to(src).parts) for p in (src / "nao_kfp").rglob("__init__.py")
    }
    found |= {"nao_kfp.components", "nao_kfp.pipelines"}
    assert found <= listed, sorted(found - listed)
