"""Loading: a preset or YAML file, `--set a.b=value` overrides, and the JSON the pipeline passes;
each builds a Config through Config.from_dict, which checks everything once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from nao_kfp.config.root import Config
from nao_kfp.errors import ConfigError

PRESETS_DIR = Path(__file__).parent.parent / "configs"


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=value` -> (["a", "b"], value); the value is parsed as YAML (numbers, bools, lists)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. search.rounds=3")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text}: expected a dotted key before '=', e.g. search.rounds=3")
    try:
        value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else ""  # noqa: S506
    except _DuplicateKey as e:
        raise ConfigError(f"--set {text}: {str(e).split(': ', 1)[1]}") from None
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
                raise ConfigError(f"--set {text}: {part} is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def preset_path(name: str) -> Path:
    """A preset by name (`demo`) or a path to a YAML file."""
    p = Path(name)
    # A preset name wins over a same-named directory (e.g. a run folder called `demo`).
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if p.is_dir():
            raise ConfigError(f"--config {name}: is a folder; expected a YAML file")
        if not p.is_file():
            raise ConfigError(f"--config {name}: no such file")
        return p
    candidate = PRESETS_DIR / f"{name}.yaml"
    if not candidate.exists() and p.is_dir():
        raise ConfigError(f"--config {name}: is a folder; expected a preset name or a YAML file")
    if not candidate.exists():
        names = sorted(x.stem for x in PRESETS_DIR.glob("*.yaml"))
        raise ConfigError(f"--config {name}: no such preset or file (presets: {', '.join(names)})")
    return candidate


def load_config(name: str | None = "demo", overrides: list[str] | None = None) -> Config:
    """Load a preset or YAML file, apply `a.b=value` overrides, check everything once."""
    data: dict[str, Any] = {}
    if name:
        data = read_yaml(preset_path(name))
    data = apply_overrides(data, overrides or [])
    return Config.from_dict(data)


class _DuplicateKey(Exception):
    pass


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in first:
                raise _DuplicateKey(f"{line}: {key}: given twice (first on line {first[key]})")
            first[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict[str, Any]:
    """A config file's mapping; every problem is one line starting with the file name."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader)
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
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"config: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError("config: expected a JSON object")
    return Config.from_dict(data)


def config_to_json(cfg: Config) -> str:
    return json.dumps(cfg.to_dict(), sort_keys=True)
