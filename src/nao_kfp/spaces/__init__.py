"""Search spaces, registered by name."""

from __future__ import annotations

from typing import Any

from nao_kfp.errors import ArchError
from nao_kfp.spaces.base import SearchSpace
from nao_kfp.spaces.cell import ENAS, NASNET, CellArch, CellSpace
from nao_kfp.spaces.nb201 import NB201, Nb201Arch
from nao_kfp.spaces.rnn import ENAS_RNN, RnnArch

SPACES: dict[str, SearchSpace[Any]] = {s.name: s for s in (NASNET, ENAS, ENAS_RNN, NB201)}


def get_space(name: str) -> SearchSpace[Any]:
    try:
        return SPACES[name]
    except KeyError:
        raise ArchError(
            f"space: unknown space {name!r}; expected one of {', '.join(SPACES)}"
        ) from None


__all__ = ["SPACES", "SearchSpace", "CellArch", "CellSpace", "RnnArch", "Nb201Arch", "get_space"]
