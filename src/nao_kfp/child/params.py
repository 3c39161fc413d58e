"""Building a child network from (space, arch) and counting its parameters and multiply-adds.

Counting builds the network on PyTorch's `meta` device: shapes only, no memory and no arithmetic,
so even the 144.6 M-parameter NAONet-A at F=128 is counted in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from nao_kfp.child.cnn import NetSpec
from nao_kfp.child.rnn import RnnSpec
from nao_kfp.child.runtime import cpu_threads
from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.spaces import Arch, SearchSpace, declaring, resolve

if TYPE_CHECKING:
    from nao_kfp.config import ChildConfig, Config

# dataset -> (classes, input channels, input size, ImageNet stem)
IMAGE_SHAPES: dict[str, tuple[int, int, int, bool]] = {
    "digits": (10, 1, 8, False),
    "cifar10": (10, 3, 32, False),
    "cifar100": (100, 3, 32, False),
    "image-folder": (10, 3, 32, False),
    "imagenet": (1000, 3, 224, True),
}


def net_spec(
    dataset: str, *, layers: int, channels: int, aux_head: bool = True, **kw: object
) -> NetSpec:
    if dataset not in IMAGE_SHAPES:
        raise ConfigError(
            f"dataset: {dataset!r} is not an image data set; expected one of {', '.join(IMAGE_SHAPES)}"
        )
    classes, in_ch, size, imagenet = IMAGE_SHAPES[dataset]
    base: dict[str, Any] = dict(
        classes=classes, in_channels=in_ch, input_size=size, imagenet=imagenet
    )
    base.update(kw)
    return NetSpec(layers=layers, channels=channels, aux_head=aux_head, **base)


def build_network(space: SearchSpace[Arch], arch: Arch, spec: NetSpec | RnnSpec) -> nn.Module:
    """The child network of `arch`, the one its space declares (SearchSpace.network: a
    CellNetwork for nasnet/enas, an Nb201Network for nb201, an RnnLM for enas-rnn), built as
    Class(arch, spec): an image network's spec is a NetSpec, a language model's an RnnSpec."""
    want = {"image": NetSpec, "text": RnnSpec}.get(space.data)
    if not space.network or want is None or not isinstance(spec, want):
        raise ArchError(
            f"space: {space.name} has no trainable child network here "
            f"({', '.join(declaring('network'))} do)"
        )
    net: nn.Module = resolve(space.network)(arch, spec)
    return net


class _SkipInit(TorchFunctionMode):
    """Weight initialisation as a no-op: on the meta device it is most of the build time
    (torch's reference normal_/uniform_ run in Python) and counting needs no values."""

    SKIP = {torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_, torch.Tensor.zero_}

    def __torch_function__(
        self,
        func: Callable[..., object],
        types: Collection[type],
        args: tuple[object, ...] = (),
        kwargs: dict[str, object] | None = None,
    ) -> object:
        if func in self.SKIP:
            return args[0]
        return func(*args, **(kwargs or {}))


def meta_network(space: SearchSpace[Arch], arch: Arch, spec: NetSpec | RnnSpec) -> nn.Module:
    """The network of `arch` on the meta device: shapes only, for counting."""
    with torch.device("meta"), _SkipInit():
        return build_network(space, arch, spec)


def count_params(
    space: SearchSpace[Arch], arch: Arch, *, layers: int, channels: int, dataset: str = "cifar10"
) -> dict[str, int]:
    """{params, params_without_aux, macs} of the image network of `arch`, N=layers, F=channels;
    macs are the multiply-adds of one inference-mode forward pass of one image."""
    spec = net_spec(dataset, layers=layers, channels=channels, aux_head=True)
    net = meta_network(space, arch, spec)
    total = sum(p.numel() for p in net.parameters())
    aux = sum(p.numel() for n, p in net.named_parameters() if n.startswith("aux_head."))
    return {"params": total, "params_without_aux": total - aux, "macs": count_macs(net, spec)}


def count_macs(net: nn.Module, spec: NetSpec) -> int:
    """Multiply-adds of convolutions and linear layers for one image, in eval mode (no aux head)."""
    macs = 0

    def hook(mod: nn.Module, _inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            macs += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        elif isinstance(mod, nn.Linear):
            macs += out.numel() * mod.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in net.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    was_training = net.training
    try:
        net.eval()
        device = next(net.parameters()).device
        x = torch.zeros(1, spec.in_channels, spec.input_size, spec.input_size, device=device)
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return macs


# ---------------------------------------------------------------- budgets


def search_spec(child: ChildConfig) -> NetSpec:
    """The NetSpec of the children the search trains, from the config alone (an image-folder
    data set is taken as 10 classes of 32×32 RGB images; its real shape is known only later)."""
    return net_spec(
        child.dataset, layers=child.layers, channels=child.channels, aux_head=False,
        dropout=child.dropout,
    )  # fmt: skip


# Below this many parameters one real forward pass on the CPU counts multiply-adds several
# times faster than a meta-device pass (whose elementwise ops run as Python reference code).
CPU_MACS_UP_TO = 20_000_000


class Budget:
    """`budget(arch)`: whether the child network the search trains for `arch` has at most
    max_params parameters (the auxiliary head not counted, as in train_child's result) and at
    most max_macs multiply-adds per image (0: no limit). Counts are cached per canonical id, and
    the smallest counts seen are kept for the error when nothing fits."""

    def __init__(
        self, space: SearchSpace[Arch], spec: NetSpec, *, max_params: int = 0, max_macs: int = 0
    ):
        self.space, self.spec = space, spec
        self.max_params, self.max_macs = max_params, max_macs
        self._counts: dict[str, tuple[int, int]] = {}
        self.smallest_params: int | None = None
        self.smallest_macs: int | None = None

    def counts(self, arch: Arch) -> tuple[int, int]:
        """(params, macs) of arch's child network; macs are 0 when max_macs is not set."""
        cid = self.space.canonical_id(arch)
        if cid not in self._counts:
            net = meta_network(self.space, arch, self.spec)
            params = sum(p.numel() for p in net.parameters())
            macs = 0
            if self.max_macs:
                # one image through small layers: extra threads only add contention
                with cpu_threads(1):
                    if params <= CPU_MACS_UP_TO:  # initialising draws: leave the caller's RNG be
                        with torch.random.fork_rng(devices=[]), torch.device("cpu"):
                            net = build_network(self.space, arch, self.spec)
                    macs = count_macs(net, self.spec)
            self._counts[cid] = (params, macs)
            self.smallest_params = min(params, self.smallest_params or params)
            if self.max_macs:
                self.smallest_macs = min(macs, self.smallest_macs or macs)
        return self._counts[cid]

    def __call__(self, arch: Arch) -> bool:
        params, macs = self.counts(arch)
        return (not self.max_params or params <= self.max_params) and (
            not self.max_macs or macs <= self.max_macs
        )

    def explain(self, found: int, wanted: int, tries: int) -> str:
        """One line for sampling that gave up: which limit, and the smallest network seen."""
        if self.max_params and (self.smallest_params or 0) > self.max_params:
            key, limit, small, what = "max_params", self.max_params, self.smallest_params, "params"
        elif self.max_macs and (self.smallest_macs or 0) > self.max_macs:
            key, limit, small, what = "max_macs", self.max_macs, self.smallest_macs, "MACs"
        else:
            key = "max_params" if self.max_params else "max_macs"
            return (
                f"search.{key}: only {found} of {wanted} {self.space.name} architectures within "
                f"budget found after {tries} samples; raise the limit or sample fewer"
            )
        return (
            f"search.{key}: no {self.space.name} architecture within {limit} {what} found after "
            f"{tries} samples; the smallest seen has {small} (child.layers {self.spec.layers}, "
            f"child.channels {self.spec.channels})"
        )


def within_budget(cfg: Config) -> Budget | None:
    """The search's budget predicate (search.max_params / search.max_macs), None without one."""
    from nao_kfp.spaces import get_space

    s = cfg.search
    if not s.max_params and not s.max_macs:
        return None
    return Budget(
        get_space(s.space), search_spec(cfg.child), max_params=s.max_params, max_macs=s.max_macs
    )
