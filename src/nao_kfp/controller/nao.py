"""NAOModel: the network plus what it needs to be used alone (space, config, target scale).

The checkpoint is self-describing (nanoGPT style): model.pt holds the controller config, the
space name, the token sizes, the target normalization and the weights, so any later step
rebuilds the model from that one file; model.json repeats everything but the weights for humans.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nao_kfp import trace, validate
from nao_kfp.config import ControllerConfig
from nao_kfp.config.keys import check_keys
from nao_kfp.controller.model import Seq2Seq, cpu_threads, mask_tensor
from nao_kfp.errors import ConfigError, NaoError, shown
from nao_kfp.spaces import Arch, SearchSpace, get_space

FORMAT = "nao-kfp-controller/1"
WEIGHTS = "model.pt"
SUMMARY = "model.json"


@dataclasses.dataclass(frozen=True)
class ControllerCheckpoint:
    """model.pt's facts beside the weights (NAOModel.describe writes them)."""

    format: str
    space: str
    vocab_size: int
    seq_len: int
    target_min: float
    target_max: float
    config: validate.Unchecked[dict[str, object]]


class CheckpointError(NaoError):
    """A controller checkpoint is missing, of another format, or does not fit its space."""


def _read_checkpoint(file: Path) -> object:
    """torch.load of model.pt, memoized on the file's identity (path, inode, size, mtime): the
    in-process loop loads each round's model three times (optimize, decode, the next warm
    start), and the weights-only unpickler costs more than the rest of a small step. Files are
    replaced atomically, so a rewritten checkpoint has a new inode and is read again; the
    weights are copied into a new network by load_state_dict, so nothing is shared."""
    st = file.stat()
    key = (str(file.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if _LAST_READ.get("key") != key:
        _LAST_READ.clear()
        _LAST_READ.update(key=key, ck=torch.load(file, map_location="cpu", weights_only=True))
    return _LAST_READ["ck"]


_LAST_READ: dict[str, Any] = {}


class NAOModel:
    def __init__(
        self,
        space: SearchSpace[Arch],
        cfg: ControllerConfig,
        *,
        target_min: float = 0.0,
        target_max: float = 1.0,
        net: Seq2Seq | None = None,
    ):
        self.space, self.cfg = space, cfg
        self.target_min, self.target_max = float(target_min), float(target_max)
        self.net = net or Seq2Seq(
            space.vocab_size, space.seq_len, mask_tensor(space.valid_mask), cfg
        )

    # ------------------------------------------------------------ target scale

    @property
    def span(self) -> float:
        # a pool whose archs all score the same still gets a usable (identity-width) scale
        return self.target_max - self.target_min or 1.0

    def normalize(self, acc: Tensor) -> Tensor:
        return (acc - self.target_min) / self.span

    def denormalize(self, y: Tensor) -> Tensor:
        return y * self.span + self.target_min

    # ------------------------------------------------------------ tokens

    def tokens(self, archs: Sequence[Arch]) -> Tensor:
        """Architectures (objects or native strings) -> N x L long tensor."""
        rows = [self.space.encode(self.space.parse(a) if isinstance(a, str) else a) for a in archs]
        return torch.tensor(rows, dtype=torch.long).reshape(len(rows), self.space.seq_len)

    # ------------------------------------------------------------ inference

    @torch.no_grad()
    def predict(self, archs: Sequence[Arch]) -> list[float]:
        """Predicted accuracy of each architecture (the heads' mean), in the pool's units."""
        return self.score(archs)

    @torch.no_grad()
    def score(self, archs: Sequence[Arch], explore: float = 0.0) -> list[float]:
        """The heads' mean plus `explore` times their spread (std), in accuracy units: what
        search.select predicted ranks candidates by."""
        if not archs:
            return []
        self.net.eval()
        with cpu_threads(self.cfg.threads):
            heads = self.net.predict_heads(self.net.encode(self.tokens(archs)))
        trace.record("predictions", heads)
        y = heads.mean(dim=0)
        if explore and heads.size(0) > 1:
            y = y + explore * heads.std(dim=0)
        return [float(v) for v in self.denormalize(y)]

    @torch.no_grad()
    def reconstruct(self, archs: Sequence[Arch]) -> Tensor:
        """Greedy D(E(x)) as tokens, N x L."""
        self.net.eval()
        with cpu_threads(self.cfg.threads):
            return self.net.greedy(self.net.encode(self.tokens(archs)))

    # ------------------------------------------------------------ checkpoint

    def describe(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "space": self.space.name,
            "vocab_size": self.space.vocab_size,
            "seq_len": self.space.seq_len,
            "target_min": self.target_min,
            "target_max": self.target_max,
            "config": dataclasses.asdict(self.cfg),
        }

    def save(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        meta = self.describe()
        tmp = out_dir / f".{WEIGHTS}.tmp"
        torch.save({**meta, "state_dict": self.net.state_dict()}, tmp)
        tmp.replace(out_dir / WEIGHTS)  # atomic: a killed step never leaves half a checkpoint
        params = sum(p.numel() for p in self.net.parameters())
        (out_dir / SUMMARY).write_text(json.dumps({**meta, "parameters": params}, indent=2) + "\n")
        return out_dir / WEIGHTS

    @classmethod
    def load(cls, path: Path) -> NAOModel:
        """From a checkpoint directory (or its model.pt)."""
        path = Path(path)
        file = path / WEIGHTS if path.is_dir() else path
        if not file.exists():
            raise CheckpointError(
                f"{file}: no controller checkpoint (expected {WEIGHTS} from `nao controller fit`)"
            )
        if not file.is_file():  # a FIFO would block the reader
            raise CheckpointError(f"{file}: not a regular file (expected {WEIGHTS})")
        ck = _read_checkpoint(file)
        if not isinstance(ck, dict) or ck.get("format") != FORMAT:
            got = ck.get("format") if isinstance(ck, dict) else ck
            raise CheckpointError(f"{file}: format: expected {FORMAT}, got {shown(got, 60)}")
        head = validate.record(
            ControllerCheckpoint,
            {f.name: ck.get(f.name) for f in dataclasses.fields(ControllerCheckpoint)},
            str(file), CheckpointError,
        )  # fmt: skip
        try:
            space = get_space(head.space)
        except NaoError as e:
            raise CheckpointError(f"{file}: {e}") from None
        for key in ("vocab_size", "seq_len"):
            if getattr(head, key) != getattr(space, key):
                raise CheckpointError(
                    f"{file}: {key}: the checkpoint has {getattr(head, key)}, the {space.name} space has {getattr(space, key)}"
                )
        try:
            cfg = validate.config(ControllerConfig, head.config, ConfigError, "controller")
            check_keys(cfg, "controller.")
        except ConfigError as e:
            raise CheckpointError(f"{file}: {e}") from None
        weights = ck.get("state_dict")
        with torch.device("meta"):  # the shapes its config gives, without allocating them
            want = {k: v.shape for k, v in cls(space, cfg).net.state_dict().items()}
        if (
            not isinstance(weights, dict)
            or {k: getattr(v, "shape", None) for k, v in weights.items()} != want
        ):
            raise CheckpointError(
                f"{file}: state_dict: the weights do not fit the network controller.* describes"
            )
        model = cls(space, cfg, target_min=head.target_min, target_max=head.target_max)
        model.net.load_state_dict(weights)
        model.net.eval()
        return model

    def copy_weights_from(self, other: NAOModel) -> None:
        """Warm start: the other model must have the same shapes (same sizes in the config)."""
        for key in ("embedding_size", "hidden_size", "mlp_layers", "mlp_hidden", "ensemble"):
            mine, theirs = getattr(self.cfg, key), getattr(other.cfg, key)
            if mine != theirs:
                raise ConfigError(
                    f"controller.{key}: the warm-start model has {theirs}, this config has {mine}"
                )
        if other.space.name != self.space.name:
            raise CheckpointError(
                f"space: the warm-start model is for {other.space.name!r}, not {self.space.name!r}"
            )
        self.net.load_state_dict(other.net.state_dict())
