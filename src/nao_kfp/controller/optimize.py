"""Embedding optimization (paper Eq. 2) and decoding of new architectures.

Two pipeline steps, two functions: `optimize_embeddings` takes the top-K architectures, their
encoder states h and the gradient of f with respect to all of h (one backward pass, as the
official code); `decode_new` steps h' = normalize(h + eta * df/dh), decodes, and grows eta
(always from the original h) until enough architectures are new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from nao_kfp import trace
from nao_kfp.controller.model import cpu_threads
from nao_kfp.controller.nao import CheckpointError, NAOModel
from nao_kfp.controller.train import ControllerError
from nao_kfp.pool import PoolEntry, entry, evaluated
from nao_kfp.spaces import Arch, SearchSpace

EMBEDDINGS_FILE = "embeddings.pt"
# eta grows geometrically, so float rounding may land a hair above eta_max on the last step
_ETA_TOL = 1e-9


@dataclass
class Embeddings:
    """The seeds (best first) with their encoder states, df/dh and f before the step."""

    space: str
    seeds: list[str]  # native architecture strings
    seed_ids: list[str]
    h: Tensor  # K x L x H, normalized encoder states
    grad: Tensor  # K x L x H, df/dh
    f_before: list[float] = field(default_factory=list)  # accuracy units

    def save(self, path: Path) -> Path:
        path = _file(Path(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {
            "space": self.space,
            "seeds": self.seeds,
            "seed_ids": self.seed_ids,
            "h": self.h,
            "grad": self.grad,
            "f_before": self.f_before,
        }
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(blob, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> Embeddings:
        path = _file(Path(path))
        if not path.exists():
            raise CheckpointError(f"{path}: no embeddings file (expected the output of optimize)")
        d = torch.load(path, map_location="cpu", weights_only=True)
        return cls(
            d["space"],
            list(d["seeds"]),
            list(d["seed_ids"]),
            d["h"],
            d["grad"],
            list(d["f_before"]),
        )


def _file(path: Path) -> Path:
    return path / EMBEDDINGS_FILE if path.is_dir() else path


def top_entries(model: NAOModel, pool: list[PoolEntry], top_k: int) -> list[PoolEntry]:
    """The top-K evaluated architectures of the model's space, best first (ties by id)."""
    ok = [e for e in evaluated(pool) if e.space == model.space.name]
    if not ok:
        raise ControllerError(f"pool: no evaluated {model.space.name} architecture to start from")
    if top_k < 1:
        raise ControllerError(f"top_k: expected a positive number of seeds, got {top_k}")
    return sorted(ok, key=lambda e: (-float(e.accuracy or 0.0), e.id))[:top_k]


def optimize_embeddings(model: NAOModel, pool: list[PoolEntry], *, top_k: int) -> Embeddings:
    seeds = top_entries(model, pool, top_k)
    net = model.net
    net.eval()
    tokens = model.tokens([e.arch for e in seeds])
    with torch.enable_grad(), cpu_threads(model.cfg.threads):
        h = net.encode(tokens).detach().requires_grad_(True)
        f = net.predict(h)
        (grad,) = torch.autograd.grad(f.sum(), h)
    trace.record("seeds' embeddings", h)
    trace.record("seeds' predictions", f)
    trace.record("df/dh", grad)
    return Embeddings(
        space=model.space.name,
        seeds=[e.arch_str for e in seeds],
        seed_ids=[e.id for e in seeds],
        h=h.detach(),
        grad=grad.detach(),
        f_before=[float(v) for v in model.denormalize(f.detach())],
    )


def decode_new(
    model: NAOModel,
    emb: Embeddings,
    *,
    count: int,
    eta: float,
    eta_growth: float,
    eta_max: float,
    known_ids: set[str],
    accept: Callable[[Arch], bool] | None = None,
) -> list[PoolEntry]:
    """Up to `count` new architectures (status pending), none in `known_ids`, none twice.

    Every seed is decoded at eta; if that does not give `count` new architectures, all seeds
    are decoded again from their original h at eta * eta_growth, and so on up to eta_max
    (as the official code, a seed may yield one architecture per step size). With `accept`
    (a budget: child.params.within_budget) an architecture it rejects counts as a duplicate:
    decoding keeps stepping.
    """
    space = _space_of(model, emb)
    seen = set(known_ids) | set(emb.seed_ids)
    found: list[tuple[Arch, int, float]] = []  # (arch, seed index, eta)
    for step in eta_ladder(eta, eta_growth, eta_max):
        if len(found) >= count or not emb.h.size(0):
            break
        moved = F.normalize(emb.h + step * emb.grad, p=2, dim=-1)
        with cpu_threads(model.cfg.threads):
            tokens = model.net.greedy(moved)
        trace.record(f"eta {step:g} embeddings", moved)
        trace.record(f"eta {step:g} tokens", tokens)
        for i, row in enumerate(tokens.tolist()):
            arch = space.decode(row)
            cid = space.canonical_id(arch)
            if cid not in seen:
                seen.add(cid)
                if accept is not None and not accept(arch):
                    continue
                found.append((arch, i, step))
                if len(found) == count:
                    break
    after = model.predict([a for a, _, _ in found])
    return [
        entry(
            space,
            arch,
            source="nao",
            seed_arch=emb.seeds[i],
            eta=step_used,
            predicted_before=emb.f_before[i],
            predicted_after=pred,
        )
        for (arch, i, step_used), pred in zip(found, after, strict=True)
    ]


def _space_of(model: NAOModel, emb: Embeddings) -> SearchSpace[Arch]:
    """The model's space, which the embeddings must have been made for."""
    if emb.space != model.space.name:
        raise CheckpointError(
            f"embeddings: made for space {emb.space!r}, the model is for {model.space.name!r}"
        )
    return model.space


def eta_ladder(eta: float, eta_growth: float, eta_max: float) -> list[float]:
    """eta, eta * eta_growth, ... up to eta_max: the step sizes decode_new walks through."""
    if eta <= 0 or eta_growth <= 1 or eta_max < eta:
        raise ControllerError(
            f"eta: expected 0 < eta <= eta_max and eta_growth > 1, got {eta}, {eta_max}, {eta_growth}"
        )
    steps, step = [], eta
    while step <= eta_max * (1 + _ETA_TOL):
        steps.append(step)
        step *= eta_growth
    return steps


def decode_candidates(
    model: NAOModel,
    emb: Embeddings,
    *,
    etas: list[float],
    known_ids: set[str],
    beam: int = 1,
    accept: Callable[[Arch], bool] | None = None,
) -> list[PoolEntry]:
    """Every seed decoded at every step size in one batched call, keeping the `beam` most
    likely architectures of each (1: the greedy one): the distinct architectures not in
    `known_ids` (nor seeds), in order of step size, seed and likelihood, for a caller to rank."""
    space = _space_of(model, emb)
    k = emb.h.size(0)
    if not k or not etas:
        return []
    moved = torch.cat([emb.h + step * emb.grad for step in etas])
    moved = F.normalize(moved, p=2, dim=-1)
    with cpu_threads(model.cfg.threads):
        tokens = model.net.beam(moved, beam) if beam > 1 else model.net.greedy(moved).unsqueeze(1)
    trace.record("candidate embeddings", moved)
    trace.record("candidate tokens", tokens)
    seen = set(known_ids) | set(emb.seed_ids)
    out = []
    for n, rows in enumerate(tokens.tolist()):
        for row in rows:
            arch = space.decode(row)
            cid = space.canonical_id(arch)
            if cid in seen:
                continue
            seen.add(cid)
            if accept is not None and not accept(arch):
                continue
            i = n % k
            out.append(
                entry(
                    space,
                    arch,
                    source="nao",
                    seed_arch=emb.seeds[i],
                    eta=etas[n // k],
                    predicted_before=emb.f_before[i],
                )  # fmt: skip
            )
    return out
