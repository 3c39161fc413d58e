"""The search-space protocol.

A space owns its token layout: vocabulary, sequence length, the valid tokens at each position,
symmetric variants, the canonical id, the string form and JSON. Every valid architecture is
exactly one token sequence whose every token lies in its position's valid set, so sampling,
mutation and validity are implemented once here, on tokens.

A space also declares what its architectures are and what the project can do with them: the
data its child network reads, that network and its weight-sharing supernet, whether zero-cost
proxies and parameter budgets apply, and the metric its children are judged by. The config
checks, the evaluators, the child trainers and the report read these declarations; nothing else
keeps a list of space names.
"""

from __future__ import annotations

import hashlib
import importlib
import operator
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any, Generic, TypeVar

from nao_kfp.errors import ArchError, shown
from nao_kfp.metric import ACCURACY, Metric

A = TypeVar("A")
# what a child network reads (SearchSpace.data): images or a text corpus (child.dataset's kind)
DATA_KINDS = ("image", "text")
# sample_unique with a budget gives up after this many samples without one it accepts
GIVE_UP_AFTER = 1000


class SearchSpace(ABC, Generic[A]):
    name: str
    vocab_size: int
    seq_len: int
    # True when random_symmetric can return a different token sequence (controller augmentation).
    has_symmetry: bool = False
    # symmetric_variants returns at most this many; the full class can be millions of sequences.
    max_variants: int = 256

    # ------------------------------------------------------------ what it is (declared once)
    # A space without a child network (the defaults) is searched with evaluator.kind synthetic
    # or table only.
    # What its child network reads, one of DATA_KINDS; the trainer follows from it (images:
    # child/train.py's recipe, text: child/train_rnn.py's). "" without a child network.
    data: str = ""
    # Its child network, "module:Class", built as Class(arch, spec) (child/params.py).
    network: str = ""
    # Its weight-sharing supernet for NAO-WS (evaluator.kind supernet), "module:Class".
    supernet: str = ""
    # Zero-cost proxies (child/proxies.py) score its untrained child network.
    proxies: bool = False
    # search.max_params / max_macs measure its child network (child/params.py counts them).
    budgets: bool = False
    # What its children are judged by; the search ranks by the metric's score.
    metric: Metric = ACCURACY

    # ------------------------------------------------------------ token layout (per space)

    @abstractmethod
    def valid_tokens(self, pos: int) -> tuple[int, ...]:
        """The tokens allowed at position `pos` (independent of the other positions)."""

    @abstractmethod
    def position_name(self, pos: int) -> str:
        """Human name of a position, e.g. 'normal cell node 2 input 1'."""

    @abstractmethod
    def token_name(self, pos: int, token: int) -> str:
        """Human name of a token at a position, e.g. 'sep_conv_3x3' or 'node 2'."""

    @abstractmethod
    def _encode(self, arch: A) -> list[int]: ...

    @abstractmethod
    def _decode(self, tokens: Sequence[int]) -> A:
        """Build the architecture from tokens that already passed the mask check."""

    # ------------------------------------------------------------ string and JSON forms

    @abstractmethod
    def to_string(self, arch: A) -> str: ...

    @abstractmethod
    def parse(self, text: str) -> A:
        """Parse the native string form; raise ArchError naming the bad part."""

    @abstractmethod
    def to_json(self, arch: A) -> object:
        """The JSON form (each space says which: lists, or an object of lists)."""

    @abstractmethod
    def from_json(self, data: object) -> A:
        """Parse the JSON form, whatever json.loads gave; raise ArchError naming the bad part."""

    def describe(self, arch: A) -> str:
        """Multi-line human form; defaults to the string form."""
        return self.to_string(arch)

    # ------------------------------------------------------------ symmetry

    def symmetric_variants(self, arch: A) -> list[A]:
        """Distinct architectures that are the same network as `arch` (the architecture itself
        first): all of them when there are at most `max_variants`, else a fixed sample."""
        return [arch]

    def random_symmetric(self, arch: A, rng: random.Random) -> A:
        """One random symmetric variant, for data augmentation."""
        return arch

    def canonical(self, arch: A) -> A:
        """A fixed representative of the architecture's symmetry class."""
        return arch

    def canonical_id(self, arch: A) -> str:
        text = f"{self.name}:{self.to_string(self.canonical(arch))}"
        return hashlib.sha1(text.encode()).hexdigest()[:16]

    # ------------------------------------------------------------ generic, on tokens

    @cached_property
    def valid_mask(self) -> list[list[bool]]:
        """seq_len x vocab_size; True where the token may appear at the position."""
        mask = [[False] * self.vocab_size for _ in range(self.seq_len)]
        for pos in range(self.seq_len):
            for tok in self.valid_tokens(pos):
                mask[pos][tok] = True
        return mask

    def encode(self, arch: A) -> list[int]:
        return self._encode(arch)

    def decode(self, tokens: Sequence[int]) -> A:
        tokens = list(tokens)
        if len(tokens) != self.seq_len:
            raise ArchError(f"{self.name}: expected {self.seq_len} tokens, got {len(tokens)}")
        for pos, raw in enumerate(tokens):
            tok = _as_token(raw)
            if tok is None:
                raise ArchError(
                    f"position {pos} ({self.position_name(pos)}): token {shown(raw)} is not an integer"
                )
            tokens[pos] = tok
            if tok not in self.valid_tokens(pos):
                raise ArchError(
                    f"position {pos} ({self.position_name(pos)}): token {tok} is not valid; "
                    f"expected one of {self.expected(pos)}"
                )
        return self._decode(tokens)

    def expected(self, pos: int) -> str:
        names = [f"{t}={self.token_name(pos, t)}" for t in self.valid_tokens(pos)]
        return "{" + ", ".join(names) + "}"

    def is_valid_tokens(self, tokens: Sequence[int]) -> bool:
        return len(tokens) == self.seq_len and all(
            0 <= t < self.vocab_size and self.valid_mask[p][t] for p, t in enumerate(tokens)
        )

    def sample(self, rng: random.Random) -> A:
        return self._decode([rng.choice(self.valid_tokens(p)) for p in range(self.seq_len)])

    def sample_unique(
        self,
        n: int,
        rng: random.Random,
        exclude: set[str] | None = None,
        *,
        accept: Callable[[A], bool] | None = None,
        give_up_after: int = GIVE_UP_AFTER,
    ) -> list[A]:
        """n architectures with distinct canonical ids, none of them in `exclude`, and with
        `accept` (a budget) only those it accepts; without accept the draws are exactly those of
        a plain call. A budget that accepts nothing within give_up_after samples, or too little
        within give_up_after per architecture, is an ArchError: accept.explain(found, n, tries)
        when the predicate has that method (child.params.Budget does)."""
        seen = set(exclude or ())
        out: list[A] = []
        tries = 0
        limit = 1000 * n + 10000 if accept is None else give_up_after * (n + 1)
        while len(out) < n:
            tries += 1
            if tries > limit or (accept is not None and not out and tries > give_up_after):
                if accept is None:
                    raise ArchError(f"{self.name}: could not sample {n} distinct architectures")
                explain = getattr(accept, "explain", None)
                raise ArchError(
                    explain(len(out), n, tries - 1)
                    if explain
                    else f"{self.name}: only {len(out)} of {n} architectures accepted after "
                    f"{tries - 1} samples"
                )
            arch = self.sample(rng)
            cid = self.canonical_id(arch)
            if cid not in seen:
                seen.add(cid)
                if accept is None or accept(arch):
                    out.append(arch)
        return out

    def mutate(self, arch: A, rng: random.Random) -> A:
        """Change one token (one input or one op) to another valid value."""
        tokens = self.encode(arch)
        choices = [p for p in range(self.seq_len) if len(self.valid_tokens(p)) > 1]
        pos = rng.choice(choices)
        tokens[pos] = rng.choice([t for t in self.valid_tokens(pos) if t != tokens[pos]])
        return self._decode(tokens)

    def same(self, a: A, b: A) -> bool:
        return self.canonical_id(a) == self.canonical_id(b)

    def hamming(self, a: Sequence[int], b: Sequence[int]) -> int:
        return sum(1 for x, y in zip(a, b, strict=True) if x != y)


def _as_token(value: Any) -> int | None:
    """A plain int from anything integral (numpy and 0-d torch integers included), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def parse_int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ArchError(f"{what}: expected an integer, got {shown(text)}") from None


def resolve(ref: str) -> Any:
    """What a space's "module:attr" declaration (network, supernet) names, imported."""
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ArchError(f"{ref}: cannot import ({e})") from None
