"""Zero-cost proxies: scores of an untrained network that rank architectures without training.

- params   the child network's parameter count (the baseline every ranking must beat);
- synflow  SynFlow (Tanaka et al. 2020; as a proxy, Abdelfattah et al. 2021): the sum over the
           weights of |w · ∂R/∂w|, R the output sum of the network with |w| on an all-ones input,
           in double precision. Data-free;
- synflow_bn  SynFlow with the BatchNorm statistics of one batch of training images (`calibrated`)
           instead of fresh ones;
- naswot   NASWOT (Mellor et al. 2021): log|K_H| of the Hamming-similarity kernel of a batch's
           binary ReLU codes. Needs one batch of training images.

Each is taken on a log scale (naswot already is one), standardized against a fixed, seeded
reference sample of the space, and the proxies' summed z-score maps linearly to [0, 1]
(`combine`): a cell's score is an absolute number that does not depend on which other cells
were scored with it, so scores from different rounds and shards compare. On NAS-Bench-201 the rank sum of SynFlow and params ranks the 725-cell CIFAR-10
sample at Kendall tau 0.64, twice the shared-weight supernet's 0.31 (bench_supernet.py proxies).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from nao_kfp.child.cnn import NetSpec
from nao_kfp.child.params import build_network
from nao_kfp.config import PROXIES
from nao_kfp.spaces import Arch, SearchSpace


def synflow(net: nn.Module, shape: Sequence[int]) -> float:
    """SynFlow of `net` (modified in place: double precision, |w|, eval mode)."""
    net = net.double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    out = net(torch.ones((1, *shape), dtype=torch.float64))
    logits = out[0] if isinstance(out, tuple) else out
    logits.sum().backward()
    with torch.no_grad():
        return float(sum((p * p.grad).abs().sum() for p in net.parameters() if p.grad is not None))


def naswot(net: nn.Module, x: torch.Tensor) -> float:
    """NASWOT of `net` on the batch x: log|K_H| summed over every ReLU's binary codes."""
    n = len(x)
    k = torch.zeros(n, n, dtype=torch.float64)

    def hook(_mod: nn.Module, inp: tuple[torch.Tensor, ...], _out: object) -> None:
        c = (inp[0].detach().flatten(1) > 0).double()
        k.add_(c @ c.t() + (1 - c) @ (1 - c).t())

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            net.train()(x)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(k)[1])


def calibrated(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """`net` with its BatchNorm statistics set to those of the batch x (one forward pass in
    training mode, cumulative averages): SynFlow then sees activations of realistic scale
    instead of BatchNorm as the identity, and ranks the NB-201 CIFAR-10 sample at Kendall tau
    0.63 instead of 0.54 (benchmarks/bench_supernet.py proxies)."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        net.train()(x.to(next(net.parameters()).dtype))
    return net


def _log(v: float) -> float:
    return math.log(max(v, 1e-300))


@dataclass(frozen=True)
class Norm:
    """A proxy's log-scale mean and spread over the reference sample."""

    mean: float
    std: float

    def z(self, value: float) -> float:
        return (value - self.mean) / self.std if self.std > 0 else 0.0


class ProxyScorer:
    """Scores architectures of one image space by the mean z-score of `names` (see the module
    docstring), on the network `spec` describes, initialized with `seed`."""

    def __init__(
        self,
        space: SearchSpace[Arch],
        spec: NetSpec,
        names: Sequence[str],
        *,
        seed: int = 0,
        reference: int = 100,
        images: Callable[[], torch.Tensor] | None = None,
    ):
        unknown = [n for n in names if n not in PROXIES]
        if unknown or not names:
            raise ValueError(f"proxies: unknown {unknown} (expected some of {', '.join(PROXIES)})")
        self.space, self.spec, self.names, self.seed = space, spec, tuple(names), seed
        self._images = images
        self._x: torch.Tensor | None = None
        self._raw: dict[str, dict[str, float]] = {}
        self.reference = reference

    @cached_property
    def norms(self) -> dict[str, Norm]:
        """Each proxy's log-scale mean and spread over the seeded reference sample, scored on
        first use (ranking a given set of cells, `best`, never needs them)."""
        rng = random.Random(self.seed)
        sample = self.space.sample_unique(self.reference, rng, exclude=set())
        return norms_of([self.raw(a) for a in sample], self.names)

    def _batch(self) -> torch.Tensor:
        if self._x is None:
            if self._images is None:
                raise ValueError("proxies: naswot needs training images (child.data_dir)")
            self._x = self._images().double()
        return self._x

    def raw(self, arch: Arch) -> dict[str, float]:
        """{proxy: log-scale value} of arch, cached per canonical id."""
        cid = self.space.canonical_id(arch)
        if cid not in self._raw:
            out: dict[str, float] = {}

            def fresh() -> nn.Module:  # the same initial weights for every proxy
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.seed)
                    return build_network(self.space, arch, self.spec)

            shape = (self.spec.in_channels, self.spec.input_size, self.spec.input_size)
            net = fresh()
            if "params" in self.names:
                out["params"] = _log(float(sum(p.numel() for p in net.parameters())))
            if "naswot" in self.names:
                out["naswot"] = naswot(net.double(), self._batch())
                net = fresh()
            if "synflow" in self.names:  # it overwrites the weights
                out["synflow"] = _log(synflow(net, shape))
            if "synflow_bn" in self.names:
                out["synflow_bn"] = _log(synflow(calibrated(fresh(), self._batch()), shape))
            self._raw[cid] = out
        return self._raw[cid]

    def zscores(self, arch: Arch) -> dict[str, float]:
        raw = self.raw(arch)
        return {n: round(self.norms[n].z(raw[n]), 4) for n in self.names}

    def best(self, archs: Sequence[Arch], k: int) -> list[Arch]:
        """The k of `archs` with the highest summed z-score of the proxies standardized within
        `archs` themselves (ties by canonical id): no reference sample to score first."""
        raws = [self.raw(a) for a in archs]
        norms = norms_of(raws, self.names)
        total = [sum(norms[n].z(r[n]) for n in self.names) for r in raws]
        ids = [self.space.canonical_id(a) for a in archs]
        order = sorted(range(len(archs)), key=lambda i: (-total[i], ids[i]))
        return [archs[i] for i in order[:k]]

    def score(self, arch: Arch, extra: Sequence[float] = ()) -> float:
        """`combine` of the proxies' z-scores and of `extra` ones (e.g. a supernet's
        standardized accuracy, weighing as much as one proxy)."""
        zs = [*self.zscores(arch).values(), *extra]
        return combine(zs)


def norms_of(raws: Sequence[dict[str, float]], names: Sequence[str]) -> dict[str, Norm]:
    return {
        n: Norm(statistics.fmean(r[n] for r in raws), statistics.pstdev(r[n] for r in raws))
        for n in names
    }


def combine(zs: Sequence[float]) -> float:
    """0.5 + z / 10 clipped to [0, 1], z = Σz_i / √k: k independent standard z-scores summed
    back to a standard normal, mapped linearly so that the controller's min-max normalized
    target keeps the spread among the best cells (a normal CDF would squeeze them near 1);
    cells 5 standard deviations out (SynFlow of a cell with no path from input to output is
    zero) sit at the ends."""
    k = len(zs)
    z = sum(zs) / math.sqrt(k) if k else 0.0
    return min(1.0, max(0.0, 0.5 + z / 10))
