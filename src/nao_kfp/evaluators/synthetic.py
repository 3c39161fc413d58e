"""A seeded synthetic evaluator: accuracy is a smooth function of the canonical tokens.

Per-position token effects plus neighbouring-token interactions, drawn from
`evaluator.synthetic_seed`, squashed into [0.5, 0.95]; the same network always gets the same
score. It costs microseconds, so whole searches run in unit tests, and it has structure a
predictor can learn.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from nao_kfp.evaluators.base import Evaluator, Log, ok
from nao_kfp.kinds import KINDS
from nao_kfp.pool import PoolEntry
from nao_kfp.spaces import Arch

LOW, HIGH = 0.5, 0.95


class SyntheticEvaluator(Evaluator):
    kind = KINDS["synthetic"]

    @cached_property
    def _weights(self) -> tuple[list[list[float]], list[list[list[float]]]]:
        sp = self.space
        rng = random.Random(f"synthetic:{sp.name}:{self.cfg.evaluator.synthetic_seed}")
        unary = [[rng.gauss(0.0, 1.0) for _ in range(sp.vocab_size)] for _ in range(sp.seq_len)]
        pair = [
            [[rng.gauss(0.0, 0.5) for _ in range(sp.vocab_size)] for _ in range(sp.vocab_size)]
            for _ in range(sp.seq_len - 1)
        ]
        return unary, pair

    def score(self, arch: Arch) -> float:
        sp = self.space
        unary, pair = self._weights
        t = sp.encode(sp.canonical(arch))
        s = sum(unary[p][tok] for p, tok in enumerate(t))
        s += sum(pair[p][t[p]][t[p + 1]] for p in range(len(t) - 1))
        s /= math.sqrt(sp.seq_len)
        acc = LOW + (HIGH - LOW) / (1.0 + math.exp(-s))
        noise = self.cfg.evaluator.synthetic_noise
        if noise:
            digest = hashlib.sha256(f"{sp.canonical_id(arch)}:{self.cfg.search.seed}".encode())
            acc += random.Random(digest.digest()).gauss(0.0, noise)
        return min(1.0, max(0.0, acc))

    def evaluate(
        self,
        entries: Sequence[PoolEntry],
        *,
        data_dir: Path | None = None,
        round_index: int = 0,
        shard: int = 0,
        log: Log | None = None,
    ) -> list[PoolEntry]:
        return [ok(e, self.score(e.arch)) for e in entries]
