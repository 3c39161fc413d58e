"""MkDocs hook: the reference pages, written from the code at build time so that they cannot drift.

- reference/cli.md: every `nao` command, from the argparse parsers `nao_kfp.cli` builds.
- reference/config.md: every config key with its type, default and meaning, from
  `nao_kfp.config.describe_keys()` (or, where that is missing, the config dataclasses' fields and
  their `doc` metadata), and the presets with the first sentence of their header comment.
- reference/formats.md is written by hand; a line `<!-- keys: module.Class ... -->` before a
  table of `| key | meaning |` rows makes the build check that the rows name exactly the keys the
  class has, and adds each key's type. A key added in the code and not described here (or
  described here and gone from the code) fails the build.
- concepts/round-loop.svg: the round loop's figure, drawn by Graphviz from round-loop.dot.

mkdocs.yml names this file under `hooks:`; tests/test_docs.py imports it to test the renderers.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import os
import re
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

FIGURES = {"concepts/round-loop.svg": "concepts/round-loop.dot"}
USAGE_COLUMNS = "72"  # argparse wraps usage lines at $COLUMNS: the same width on every machine

# ---------------------------------------------------------------- the hook


def on_files(files: Files, config: Any) -> Files:
    pages = {"reference/cli.md": cli_markdown, "reference/config.md": config_markdown}
    for uri, render in pages.items():
        files.append(File.generated(config, uri, content=render()))
    for uri, source in FIGURES.items():
        files.append(File.generated(config, uri, content=figure(Path(config.docs_dir) / source)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    return with_key_types(markdown, page.file.src_uri)


# ---------------------------------------------------------------- the command line


def cli_markdown() -> str:
    from nao_kfp.cli import build_parser

    out = [
        "# Command line\n",
        "Every `nao` command with its arguments, as `nao COMMAND --help` prints them. A bad "
        "argument exits with status 2 and one line naming it; `--config` takes a preset name "
        "or a YAML file, and `--set KEY=VALUE` any key of the "
        "[configuration](config.md).\n",
    ]
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = USAGE_COLUMNS
    try:
        for name, parser, help_line in _commands(build_parser(), "nao"):
            out.append(_command_markdown(name, parser, help_line))
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved
    return "\n".join(out)


def _commands(
    parser: argparse.ArgumentParser, name: str, help_line: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser, str]]:
    """(name, parser, one-line help) of every command that runs something, depth first."""
    sub = _subparsers(parser)
    if sub is None:
        yield name, parser, help_line
        return
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    for child_name, child in sub.choices.items():
        yield from _commands(child, f"{name} {child_name}", helps.get(child_name, ""))


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[Any] | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _command_markdown(name: str, parser: argparse.ArgumentParser, help_line: str) -> str:
    formatter = parser._get_formatter()
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    usage = formatter.format_help().strip()
    text = [f"## `{name}`\n"]
    about = " ".join((parser.description or help_line).split())
    if about:
        text.append(about[0].upper() + about[1:] + ("" if about.endswith(".") else ".") + "\n")
    text.append(f"```text\n{usage}\n```\n")
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            flags = ", ".join(action.option_strings)
            metavar = (
                ""
                if action.nargs == 0
                else " " + formatter._format_args(action, action.dest.upper())
            )
            what = f"`{flags}{metavar}`"
        else:
            what = f"`{formatter._metavar_formatter(action, action.dest)(1)[0]}`"
        meaning = formatter._expand_help(action) if action.help else ""
        if action.required and action.option_strings:
            meaning = f"{meaning} (required)".strip()
        rows.append(f"| {what} | {_cell(meaning)} |")
    if rows:
        text.append("| argument | meaning |\n|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(text)


# ---------------------------------------------------------------- the configuration


@dataclasses.dataclass(frozen=True)
class KeyDoc:
    """One config key as the reference shows it (the shape of describe_keys()'s items)."""

    path: str
    type: object
    default: object
    doc: str = ""
    min: object = None
    max: object = None
    why: str = ""
    choices: tuple[object, ...] = ()
    exclusive: str = ""  # "min" or "max": that end is a limit the value may only approach


def config_keys() -> list[KeyDoc]:
    """Every key `nao config show` prints: from the config package's own description when it
    has one, else from the dataclass fields (their `doc` metadata)."""
    from nao_kfp import config

    describe = getattr(config, "describe_keys", None)
    if describe is not None:
        return [_key_doc(k) for k in describe()]
    return list(_field_keys(config.Config, ""))


def _key_doc(item: object) -> KeyDoc:
    values = {f.name: getattr(item, f.name, None) for f in dataclasses.fields(KeyDoc)}
    values["doc"] = values["doc"] or ""
    values["why"] = values["why"] or ""
    values["choices"] = tuple(values["choices"] or ())
    values["exclusive"] = values["exclusive"] or ""
    return KeyDoc(**values)


def _field_keys(cls: type, prefix: str) -> Iterator[KeyDoc]:
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default: object = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if dataclasses.is_dataclass(default):
            yield from _field_keys(type(default), f"{prefix}{f.name}.")
        else:
            yield KeyDoc(prefix + f.name, f.type, default, str(f.metadata.get("doc", "")))


def config_markdown() -> str:
    keys = config_keys()
    sections: dict[str, list[KeyDoc]] = {}
    for key in keys:
        section = key.path.split(".")[0] if "." in key.path else ""
        sections.setdefault(section, []).append(key)
    out = [
        "# Configuration\n",
        "A search is configured by one document of the sections below. A preset is a YAML file "
        "of any of these keys: what it leaves out keeps the default shown here, and "
        "`--set KEY=VALUE` overrides any key on the command line (`--set search.rounds=5`, "
        "`--set 'search.prior=[a.jsonl]'`). `nao config show --config PRESET` prints every key "
        "with its value; a key that does not exist, or a value of the wrong type or out of its "
        "limits, stops the command with one line naming the key.\n",
        "## Presets\n",
        "`--config NAME` takes one of these (or the path of your own YAML file):\n",
        "| preset | what it is |\n|---|---|",
        *(f"| `{name}` | {_cell(text)} |" for name, text in presets()),
        "",
    ]
    for section, items in sections.items():
        out.append(f"## `{section}`\n" if section else "## Top level\n")
        out.append("| key | type | default | meaning |\n|---|---|---|---|")
        for k in items:
            out.append(
                f"| `{k.path}` | {_type_name(k.type)} | {_default(k.default)} | "
                f"{_cell(_meaning(k))} |"
            )
        out.append("")
    return "\n".join(out)


def presets() -> list[tuple[str, str]]:
    """(name, the first sentence of its header comment) of every preset."""
    from nao_kfp.config import PRESETS_DIR

    out = []
    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        comment = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            comment.append(line.lstrip("#").strip())
        out.append((path.stem, _sentence(" ".join(comment))))
    return out


def _meaning(k: KeyDoc) -> str:
    """The key's description, then the values it takes (for a list: its length and each item),
    with why the limit is where it is."""
    listed = _type_name(k.type).startswith("list")
    parts = [k.doc.strip()]
    if k.choices:
        each = "Each item one of " if listed else "One of "
        parts.append(each + ", ".join(f"`{c}`" for c in k.choices) + ".")
    ends = []
    if k.min is not None:
        ends.append(f"{'above' if k.exclusive == 'min' else 'at least'} {_number(k.min)}")
    if k.max is not None:
        ends.append(f"{'below' if k.exclusive == 'max' else 'at most'} {_number(k.max)}")
    why = k.why.strip().rstrip(".")
    if ends:
        limits = ", ".join(ends) + (f" ({why})" if why else "")
        parts.append(f"Length {limits}." if listed else limits[0].upper() + limits[1:] + ".")
    elif why:
        parts.append(why[0].upper() + why[1:] + ".")
    return " ".join(p for p in parts if p)


def _number(value: object) -> str:
    """A limit as people write it: 200, 0.5, 1e-08, 4,294,967,295."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _default(value: object) -> str:
    if value == "":
        return "`''`"
    return f"`{json.dumps(value) if not isinstance(value, str) else value}`"


# ---------------------------------------------------------------- the file formats

_MARKER = re.compile(
    r"^<!-- keys: (?P<cls>[\w.]+)(?P<edits>(?: [-+]?[\w.]+(?::[\w\[\] |,.]+)?)*) -->$"
)
_ROW = re.compile(r"^\|\s*`(?P<key>[^`]+)`\s*\|(?P<rest>.*)$")


def with_key_types(markdown: str, where: str) -> str:
    """Each `<!-- keys: ... -->` table with a type column from the code, checked key by key."""
    lines, out, i = markdown.split("\n"), [], 0
    while i < len(lines):
        marker = _MARKER.match(lines[i])
        if not marker:
            out.append(lines[i])
            i += 1
            continue
        keys = record_keys(marker["cls"], marker["edits"].split())
        i += 1
        while i < len(lines) and not lines[i].startswith("|"):
            out.append(lines[i])
            i += 1
        header, rule = lines[i : i + 2]
        out += [
            header.replace("| key |", "| key | type |", 1),
            rule.replace("|---|", "|---|---|", 1),
        ]
        i += 2
        seen = []
        while i < len(lines) and lines[i].startswith("|"):
            row = _ROW.match(lines[i])
            if row is None:  # a prose row ("anything else"): no key, no type
                cells = lines[i].split("|", 2)
                out.append(f"|{cells[1]}| |{cells[2]}")
            else:
                key = row["key"]
                if key not in keys:
                    raise PluginError(
                        f"{where}: `{key}` is not a key of {marker['cls']} ({', '.join(keys)})"
                    )
                seen.append(key)
                out.append(f"| `{key}` | {_type_name(keys[key])} |{row['rest']}")
            i += 1
        missing = [k for k in keys if k not in seen]
        if missing:
            raise PluginError(
                f"{where}: {marker['cls']} has keys this table does not describe: {', '.join(missing)}"
            )
    return "\n".join(out)


def record_keys(path: str, edits: Iterable[str] = ()) -> dict[str, object]:
    """The keys of a record class (dataclass or TypedDict) and their annotations, edited:
    `-key` drops one (a field not written to the file), `+key:type` adds one (a key the writer
    adds), `key:type` sets the type of one as it appears in the file."""
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if dataclasses.is_dataclass(cls):
        keys: dict[str, object] = {f.name: f.type for f in dataclasses.fields(cls)}
    else:
        keys = dict(inspect.get_annotations(cls))
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.is_typeddict(base):
                keys = {**inspect.get_annotations(base), **keys}
    for edit in edits:
        key, _, kind = edit.lstrip("+-").partition(":")
        if edit.startswith("-"):
            keys.pop(key)
        elif edit.startswith("+") or key in keys:
            keys[key] = kind
        else:
            raise PluginError(f"<!-- keys: {path} -->: {key} is not a key of {name}")
    return keys


# ---------------------------------------------------------------- shared


_NAMES = {
    "int": "integer",
    "float": "number",
    "str": "string",
    "bool": "boolean",
    "Any": "any",
    "JSONValue": "any JSON value",
}


def _type_name(annotation: object) -> str:
    """A type annotation (string or type) as a user reads it: `integer or null`, `list of strings`."""
    if isinstance(annotation, typing.ForwardRef):  # a TypedDict's field under PEP 563
        annotation = annotation.__forward_arg__
    if isinstance(annotation, type):
        annotation = annotation.__name__
    text = str(annotation).replace("typing.", "")  # list[str], int | None, Optional[...]
    text = re.sub(r"\bUnchecked\[(.*)\]$", r"\1", text.strip())
    alternatives = _split(text, "|")
    if len(alternatives) > 1:
        names = [_type_name(a) for a in alternatives if a != "None"]
        return " or ".join(names) + (" or null" if "None" in alternatives else "")
    head, _, inner = text.partition("[")
    if head in ("list", "tuple", "Sequence") and inner:
        item = _type_name(_split(inner[:-1], ",")[0])
        return f"list of {item}s" if item.isalpha() else f"list ({item})"
    if (
        head in ("dict", "Mapping", "Metrics", "JSONObject")
        or text[:1].isupper()
        and text not in _NAMES
    ):
        return "object"
    return _NAMES.get(text, text)


def _split(text: str, sep: str) -> list[str]:
    """text split at sep outside brackets, each part stripped."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    return [*parts, text[start:].strip()]


def _sentence(text: str) -> str:
    """The first sentence of text (up to a period that ends a word and precedes a blank)."""
    text = " ".join(text.split())
    end = re.search(r"(?<=[a-z0-9)`])\.(\s|$)", text)
    return text[: end.start() + 1] if end else text


def _cell(text: str) -> str:
    """text inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def figure(dot_file: Path) -> str:
    import graphviz

    return graphviz.Source(dot_file.read_text()).pipe(format="svg", encoding="utf-8")
