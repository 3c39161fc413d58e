"""The code's layout keeps what the contributor guide promises: no import cycle, each capability
declared by its owner (no list of space or evaluator names elsewhere), one place per metric."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from nao_kfp.kinds import KINDS
from nao_kfp.spaces import SPACES

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "nao_kfp"
LIBRARY = [*SRC.rglob("*.py"), *(ROOT / "components").glob("*.py"), *(ROOT / "pipelines").glob("*.py")]  # fmt: skip
BUILT_IN = ("nasnet", "enas", "enas-rnn", "nb201")


def module_name(path: Path) -> str:
    if path.is_relative_to(SRC):
        parts = ["nao_kfp", *path.relative_to(SRC).with_suffix("").parts]
    else:  # components/ and pipelines/ install as nao_kfp.components, nao_kfp.pipelines
        parts = ["nao_kfp", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> Iterator[str]:
    """The project modules `path` imports when it runs: at the top and inside functions, not
    those under `if TYPE_CHECKING:` (types only)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # a submodule by name, else a name the package (its __init__) defines
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for name in names:  # (a package's __init__ running before its submodule is Python's)
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                yield name


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_others() -> None:
    modules = {module_name(p): p for p in LIBRARY}
    graph = {m: set(imports(p, set(modules))) - {m} for m, p in modules.items()}
    assert cycles(graph) == []
    # the check sees imports inside functions too
    assert "nao_kfp.child.supernet_train" in graph["nao_kfp.evaluators.supernet"]


def test_cycles_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def literals(path: Path) -> Iterator[tuple[int, str, ast.AST | None]]:
    """Every string constant of a module with the node it is the value of (an assignment's
    target, a keyword), docstrings included."""
    tree = ast.parse(path.read_text())
    owner: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            for n in ast.walk(node.value):
                owner[id(n)] = node
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value, owner.get(id(node))


def names_a_preset(node: ast.AST | None) -> bool:
    """An assignment to `config` or `preset`: the string names a preset file (configs/)."""
    target = node.target if isinstance(node, ast.AnnAssign) else None
    return isinstance(target, ast.Name) and target.id in ("config", "preset")


def test_no_space_is_named_outside_the_spaces() -> None:
    named = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in LIBRARY
        if not path.is_relative_to(SRC / "spaces")
        for line, text, node in literals(path)
        if text in BUILT_IN and not names_a_preset(node)
    ]
    assert named == []
    assert set(BUILT_IN) <= set(SPACES)


def test_no_evaluator_kind_is_compared_with_a_name() -> None:
    compared = []
    for path in LIBRARY:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            kinds = [s for s in sides if isinstance(s, ast.Attribute) and s.attr == "kind"]
            names = [
                c.value
                for s in sides
                for c in ([s] if isinstance(s, ast.Constant) else getattr(s, "elts", []))
                if isinstance(c, ast.Constant) and c.value in KINDS
            ]
            if kinds and names:
                compared.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert compared == []


def test_the_word_perplexity_stays_with_the_recurrent_space_and_the_metric() -> None:
    owners = (SRC / "child", SRC / "spaces", SRC / "metric.py")
    said = {
        str(path.relative_to(ROOT)): n
        for path in LIBRARY
        if not any(path == o or path.is_relative_to(o) for o in owners)
        if (n := len(re.findall("perplexit", path.read_text(), re.IGNORECASE)))
    }
    assert sum(said.values()) <= 20, said
