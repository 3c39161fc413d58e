"""The user guide: it builds with `mkdocs build --strict` (a broken link fails it), its reference
pages cover what the code has (every command and option, every config key, every key of the
files a search writes), README.md stays the front door, and the documents speak to users.

The commands the documents show run in tests/test_readme.py.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import yaml
from mkdocs.exceptions import PluginError
from test_readme import COMMANDS, ROOT, guide_pages

from nao_kfp.cli import build_parser


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hook", ROOT / "docs/hooks/reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as mkdocs loads it (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


hook = _hook()


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        timeout=300,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = _build(ROOT / "mkdocs.yml", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


# ---------------------------------------------------------------- the build


@pytest.mark.slow
def test_the_guide_builds_with_its_generated_pages(site: Path) -> None:
    for page in ("index", "get-started", "reference/cli", "reference/config", "reference/formats"):
        html = site / page / "index.html" if page != "index" else site / "index.html"
        assert html.is_file(), page
    assert "<svg" in (site / "concepts/round-loop.svg").read_text()
    assert "nao search" in (site / "reference/cli/index.html").read_text()
    formats = (site / "reference/formats/index.html").read_text()
    assert "integer or null" in formats and "<!-- keys:" not in formats


@pytest.mark.slow
def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    page = tmp_path / "docs/get-started.md"
    page.write_text(page.read_text() + "\nSee [the missing page](how-to/nowhere.md).\n")
    proc = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    assert "how-to/nowhere.md" in proc.stderr


def test_the_nav_names_every_written_page() -> None:
    written = {p for p in (ROOT / "docs").rglob("*.md") if "hooks" not in p.parts}
    assert written == set(guide_pages())


# ---------------------------------------------------------------- the reference pages


def _leaves(data: object, prefix: str = "") -> list[str]:
    """The key paths of `nao config show`'s document (the demo's mappings are all sections,
    but for its empty ones: cluster.node_selector)."""
    if isinstance(data, dict) and data:
        return [k for key, v in data.items() for k in _leaves(v, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def test_the_config_reference_lists_every_key_config_show_prints() -> None:
    shown = yaml.safe_load(
        subprocess.run(
            [sys.executable, "-m", "nao_kfp.cli", "config", "show"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    page = hook.config_markdown()
    rows = set(re.findall(r"^\| `([\w.-]+)` \|", page, re.M))
    presets = {name for name, _ in hook.presets()}
    assert rows - presets == set(_leaves(shown))
    for name, sentence in hook.presets():
        assert sentence.endswith(".") and f"| `{name}` |" in page


def test_every_config_key_has_a_description() -> None:
    from nao_kfp import config

    if not hasattr(config, "describe_keys"):
        pytest.skip(
            "nao_kfp.config.describe_keys() (the config keys' own descriptions) not here yet"
        )
    undescribed = [k.path for k in hook.config_keys() if not k.doc.strip()]
    assert not undescribed, f"config keys without a description: {undescribed}"


def test_the_config_reference_shows_the_keys_own_descriptions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nao_kfp import config

    def describe_keys() -> list[object]:
        return [
            SimpleNamespace(path="search.rounds", type=int, default=3, doc="L rounds.", min=1,
                            max=200, why="each round is a task", choices=None),
            SimpleNamespace(path="search.fill", type="str", default="random", doc="What fills.",
                            min=None, max=None, why="", choices=("random", "none")),
        ]  # fmt: skip

    monkeypatch.setattr(config, "describe_keys", describe_keys, raising=False)
    page = hook.config_markdown()
    assert (
        "| `search.rounds` | integer | `3` | L rounds. At least 1, at most 200 (each round is a task). |"
        in page
    )
    assert "| `search.fill` | string | `random` | What fills. One of `random`, `none`. |" in page


def test_the_cli_reference_shows_every_command_and_option() -> None:
    page = hook.cli_markdown()
    commands = list(hook._commands(build_parser(), "nao"))
    assert len(commands) >= 15
    for name, parser, _ in commands:
        assert f"## `{name}`" in page, name
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert re.search(rf"`[^`\n]*{re.escape(flag)}\b", page), f"{name} {flag}"


def test_the_formats_tables_get_types_from_the_code() -> None:
    text = (
        "<!-- keys: nao_kfp.export.ModelInput -->\n"
        "| key | meaning |\n|---|---|\n"
        "| `channels` | C |\n| `size` | H = W |\n| `range` | [0, 1] |\n| *anything* | kept |\n"
    )
    out = hook.with_key_types(text, "t.md").splitlines()
    assert out[0:3] == ["| key | type | meaning |", "|---|---|---|", "| `channels` | integer | C |"]
    assert out[-1] == "| *anything* | | kept |"
    with pytest.raises(PluginError, match="does not describe: range"):
        hook.with_key_types(text.replace("| `range` | [0, 1] |\n", ""), "t.md")
    with pytest.raises(PluginError, match="`depth` is not a key of"):
        hook.with_key_types(text.replace("`range`", "`depth`"), "t.md")


def test_record_keys_follow_the_marker_edits() -> None:
    keys = hook.record_keys("nao_kfp.pool.PoolEntry", ["-extra", "+id:str", "arch:str"])
    assert "extra" not in keys and keys["id"] == "str" and keys["arch"] == "str"
    assert hook._type_name(keys["accuracy"]) == "number or null"
    typed_dict = hook.record_keys("nao_kfp.export.ModelInput")  # annotations as ForwardRefs
    assert [hook._type_name(t) for t in typed_dict.values()] == [
        "integer",
        "integer",
        "list of numbers",
    ]
    assert hook._type_name("list[str]") == "list of strings"
    assert hook._type_name("Unchecked[FinalOutcome] | None") == "object or null"
    assert hook._type_name("dict[str, list[float]]") == "object"
    assert [hook._type_name(t) for t in (int, list[str], float | None)] == [
        "integer", "list of strings", "number or null"
    ]  # fmt: skip


# ---------------------------------------------------------------- the documents


def test_the_readme_is_the_front_door() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert [c.key for c in COMMANDS[:2]] == ["make search", "make test"]
    assert COMMANDS[0].where.startswith("README.md") and COMMANDS[1].where.startswith("README.md")


ISSUE = re.compile(r"\bissues? #?\d+|\(#\d+\)", re.I)


def test_the_documents_speak_to_users() -> None:
    pages = [ROOT / "README.md", *guide_pages()]
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in pages}
    texts["reference/cli.md"] = hook.cli_markdown()
    texts["reference/config.md"] = hook.config_markdown()
    found = {name: ISSUE.findall(text) for name, text in texts.items() if ISSUE.search(text)}
    assert not found, f"issue numbers in the user documents: {found}"
