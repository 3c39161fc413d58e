"""Building a child network from (space, arch) and counting its parameters and multiply-adds.

Counting builds the network on PyTorch's `meta` device: shapes only, no memory and no arithmetic,
so even the 144.6 M-parameter NAONet-A at F=128 is counted in seconds.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from nao_kfp.child.cnn import CellNetwork, NetSpec
from nao_kfp.child.nb201net import Nb201Network
from nao_kfp.child.rnn import RnnLM, RnnSpec
from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.spaces import CellArch, Nb201Arch, RnnArch, SearchSpace

# dataset -> (classes, input channels, input size, ImageNet stem)
IMAGE_SHAPES: dict[str, tuple[int, int, int, bool]] = {
    "digits": (10, 1, 8, False),
    "cifar10": (10, 3, 32, False),
    "cifar100": (100, 3, 32, False),
    "image-folder": (10, 3, 32, False),
    "imagenet": (1000, 3, 224, True),
}


def net_spec(
    dataset: str, *, layers: int, channels: int, aux_head: bool = True, **kw: Any
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


def build_network(space: SearchSpace[Any], arch: Any, spec: NetSpec | RnnSpec) -> nn.Module:
    """The child network of `arch`: a CellNetwork for nasnet/enas, an Nb201Network for nb201
    (spec.layers cells per stage, spec.channels C; no auxiliary head), an RnnLM for enas-rnn."""
    if isinstance(arch, CellArch) and isinstance(spec, NetSpec):
        return CellNetwork(arch, spec)
    if isinstance(arch, Nb201Arch) and isinstance(spec, NetSpec):
        return Nb201Network(arch, spec)
    if isinstance(arch, RnnArch) and isinstance(spec, RnnSpec):
        return RnnLM(arch, spec)
    raise ArchError(
        f"space: {space.name} has no trainable child network here (nasnet, enas, nb201 and enas-rnn do)"
    )


def count_params(
    space: SearchSpace[Any], arch: Any, *, layers: int, channels: int, dataset: str = "cifar10"
) -> dict[str, int]:
    """{params, params_without_aux, macs} of the image network of `arch`, N=layers, F=channels;
    macs are the multiply-adds of one inference-mode forward pass of one image."""
    spec = net_spec(dataset, layers=layers, channels=channels, aux_head=True)
    with torch.device("meta"):
        net = build_network(space, arch, spec)
    total = sum(p.numel() for p in net.parameters())
    aux = sum(p.numel() for n, p in net.named_parameters() if n.startswith("aux_head."))
    return {"params": total, "params_without_aux": total - aux, "macs": count_macs(net, spec)}


def count_macs(net: nn.Module, spec: NetSpec) -> int:
    """Multiply-adds of convolutions and linear layers for one image, in eval mode (no aux head)."""
    macs = 0

    def hook(mod: nn.Module, _inp: Any, out: torch.Tensor) -> None:
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
