"""Search spaces, registered by name."""

from __future__ import annotations

from typing import TypeAlias, cast

from nao_kfp.errors import ArchError, shown
from nao_kfp.spaces.base import SearchSpace
from nao_kfp.spaces.cell import ENAS, NASNET, CellArch, CellSpace
from nao_kfp.spaces.nb201 import NB201, Nb201Arch
from nao_kfp.spaces.rnn import ENAS_RNN, RnnArch

# An architecture of any registered space. Code that works across spaces holds a
# SearchSpace[Arch] (get_space) and hands it the architectures it made; code for one kind of
# network narrows with isinstance (CellArch, RnnArch, Nb201Arch).
Arch: TypeAlias = CellArch | RnnArch | Nb201Arch

SPACES: dict[str, SearchSpace[Arch]] = {
    s.name: cast("SearchSpace[Arch]", s) for s in (NASNET, ENAS, ENAS_RNN, NB201)
}


def get_space(name: str) -> SearchSpace[Arch]:
    try:
        return SPACES[name]
    except KeyError:
        raise ArchError(
            f"space: unknown space {shown(name)}; expected one of {', '.join(SPACES)}"
        ) from None


__all__ = [
    "SPACES", "SearchSpace", "Arch", "CellArch", "CellSpace", "RnnArch", "Nb201Arch", "get_space",
]  # fmt: skip
