"""Loading: a preset or YAML file, `--set a.b=value` overrides, and the JSON the pipeline passes;
each builds a Config through Config.from_dict, which checks everything once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from nao_kfp import validate
from nao_kfp.config.root import Config
from nao_kfp.errors import ConfigError, shorten, shown

PRESETS_DIR = Path(__file__).parent.parent / "configs"
# A preset is a few KiB; PyYAML parses about 0.5 MB a second at best, slower for deep ones.
MAX_CONFIG_BYTES = 256 * 1024
MAX_SET_CHARS = 64 * 1024  # one --set KEY=VALUE
# values after YAML's aliases are expanded (a few aliased lists nest to billions of values)
MAX_VALUES = 100_000


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], value); the value is parsed as YAML (numbers, bools, lists)."""
    if len(text) > MAX_SET_CHARS:
        raise ConfigError(
            f"--set {shorten(text, 60)}: {len(text)} characters; expected at most {MAX_SET_CHARS}"
        )
    if "=" not in text:
        raise ConfigError(f"--set {shorten(text)}: expected KEY=VALUE, e.g. search.rounds=3")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(
            f"--set {shorten(text)}: expected a dotted key before '=', e.g. search.rounds=3"
        )
    try:
        value = _load(raw, f"--set {shorten(text, 60)}") if raw.strip() else ""
    except _DuplicateKey as e:
        raise ConfigError(f"--set {shorten(text)}: {str(e).split(': ', 1)[1]}") from None
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    out = json.loads(json.dumps(data))
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {shorten(text)}: {part} is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def preset_path(name: str) -> Path:
    """A preset by name (`demo`) or a path to a YAML file."""
    try:
        return _preset_path(name)
    except OSError as e:  # a name too long for the file system, a loop of links
        raise ConfigError(f"--config {shorten(name)}: {e.strerror or type(e).__name__}") from None


def _preset_path(name: str) -> Path:
    p = Path(name)
    if p.exists() and not p.is_file() and not p.is_dir():  # a FIFO would block, a device never end
        raise ConfigError(f"--config {shorten(name)}: not a regular file; expected a YAML file")
    # A preset name wins over a same-named directory (e.g. a run folder called `demo`).
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if p.is_dir():
            raise ConfigError(f"--config {shorten(name)}: is a folder; expected a YAML file")
        if not p.is_file():
            raise ConfigError(f"--config {shorten(name)}: no such file")
        return p
    candidate = PRESETS_DIR / f"{name}.yaml"
    if not candidate.exists() and p.is_dir():
        raise ConfigError(
            f"--config {shorten(name)}: is a folder; expected a preset name or a YAML file"
        )
    if not candidate.exists():
        names = sorted(x.stem for x in PRESETS_DIR.glob("*.yaml"))
        raise ConfigError(
            f"--config {shorten(name)}: no such preset or file (presets: {', '.join(names)})"
        )
    return candidate


def load_config(name: str | None = "demo", overrides: list[str] | None = None) -> Config:
    """Load a preset or YAML file, apply `a.b=value` overrides, check everything once."""
    data: dict[str, Any] = {}
    if name is not None and not name.strip():
        raise ConfigError(f"--config: expected a preset name or a YAML file, got {shown(name)}")
    if name:
        data = read_yaml(preset_path(name))
    data = apply_overrides(data, overrides or [])
    return Config.from_dict(data)


class _DuplicateKey(Exception):
    """A key given twice in one mapping, or one that is no name (`line: what`)."""


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise _DuplicateKey(
                    f"{line}: expected a name as a key, got {type(key).__name__}"
                )  # `? [a, b]` would not even hash
            if key in first:
                raise _DuplicateKey(f"{line}: {key}: given twice (first on line {first[key]})")
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def _load(text: str, where: str) -> Any:
    """YAML within the limits: no RecursionError, digit limit or alias bomb."""
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
    except RecursionError:
        raise ConfigError(f"{where}: nested too deep") from None
    except ValueError as e:  # an integer past Python's digit limit
        raise ConfigError(f"{where}: {shorten(str(e).split(':')[0], 80)}") from None
    if _values(loaded, {}) > MAX_VALUES:
        raise ConfigError(f"{where}: more than {MAX_VALUES} values once its aliases are expanded")
    return loaded


def _values(node: object, seen: dict[int, int]) -> int:
    """How many values node holds with every alias expanded (counted once per object)."""
    if not isinstance(node, dict | list):
        return 1
    if id(node) not in seen:
        seen[id(node)] = MAX_VALUES + 1  # a cycle (a recursive alias) counts as too many
        items = list(node.items()) if isinstance(node, dict) else [(None, v) for v in node]
        seen[id(node)] = 1 + sum(_values(v, seen) for _k, v in items)
    return seen[id(node)]


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping; every problem is one line starting with the file name."""

    text = validate.read_text(path, str(path), ConfigError, MAX_CONFIG_BYTES)
    try:
        loaded = _load(text, str(path))
    except _DuplicateKey as e:
        raise ConfigError(f"{path}:{e}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({e.problem or e.context})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if loaded is None:
        raise ConfigError(
            f"{path}: empty; expected a mapping of config keys (search:, child:, ...)"
        )
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded


def config_from_json(text: str) -> Config:
    """The pipeline passes the whole config as one JSON string parameter."""

    data = validate.json_value(text, "config", ConfigError)
    if not isinstance(data, dict):
        raise ConfigError("config: expected a JSON object")
    return Config.from_dict(data)


def config_to_json(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), sort_keys=True)
