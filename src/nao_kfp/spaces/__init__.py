"""Search spaces, registered by name: the built-in ones and those installed packages add.

A package adds a space by naming it in its entry points, group `nao_kfp.spaces`
(pyproject.toml: `[project.entry-points."nao_kfp.spaces"] toy = "toy_nas:TOY"`, a SearchSpace
instance); `search.space` then takes its name like a built-in one's (see the contributor guide's
"Adding a search space").
"""

from __future__ import annotations

import importlib.metadata
from typing import TypeAlias, cast

from nao_kfp.errors import ArchError, shown
from nao_kfp.spaces.base import DATA_KINDS, SearchSpace, resolve
from nao_kfp.spaces.cell import ENAS, NASNET, CellArch, CellSpace
from nao_kfp.spaces.nb201 import NB201, Nb201Arch
from nao_kfp.spaces.rnn import ENAS_RNN, RnnArch

# An architecture of any registered space. Code that works across spaces holds a
# SearchSpace[Arch] (get_space) and hands it the architectures it made; code for one kind of
# network narrows with isinstance (CellArch, RnnArch, Nb201Arch).
Arch: TypeAlias = CellArch | RnnArch | Nb201Arch

ENTRY_POINTS = "nao_kfp.spaces"
# search.space when a config names none
DEFAULT_SPACE = ENAS.name


def _registered() -> dict[str, SearchSpace[Arch]]:
    spaces = {s.name: cast("SearchSpace[Arch]", s) for s in (NASNET, ENAS, ENAS_RNN, NB201)}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINTS):
        where = f"entry point {ep.name} = {ep.value} (group {ENTRY_POINTS})"
        try:
            space = ep.load()
        except Exception as e:  # a broken plugin: one line, not a traceback
            raise ArchError(f"{where}: cannot load ({type(e).__name__}: {e})") from None
        if not isinstance(space, SearchSpace):
            raise ArchError(f"{where}: expected a SearchSpace instance, got {shown(space)}")
        if space.name in spaces and spaces[space.name] is not space:
            raise ArchError(f"{where}: a space named {space.name!r} is registered already")
        spaces[space.name] = space
    return spaces


SPACES: dict[str, SearchSpace[Arch]] = _registered()


def declaring(what: str) -> list[str]:
    """The names of the registered spaces that declare `what` (a SearchSpace attribute: network,
    supernet, proxies, budgets, data), for a message that lists them."""
    return [name for name, space in SPACES.items() if getattr(space, what)]


def get_space(name: str) -> SearchSpace[Arch]:
    try:
        return SPACES[name]
    except KeyError:
        raise ArchError(
            f"space: unknown space {shown(name)}; expected one of {', '.join(SPACES)}"
        ) from None


__all__ = [
    "DATA_KINDS", "DEFAULT_SPACE", "SPACES", "SearchSpace", "Arch", "CellArch", "CellSpace",
    "RnnArch", "Nb201Arch", "declaring", "get_space", "resolve",
]  # fmt: skip
