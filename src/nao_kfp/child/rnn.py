"""The ENAS recurrent cell from an RnnArch, inside a word-level language model.

Each node is a highway unit, as in the ENAS and DARTS PyTorch cells that NAO's RNN search uses:
from its input state s it computes [c, h] = s·W_i, then s' = s + sigmoid(c) * (act_i(h) - s).
Node 1 reads the input and the previous hidden state ([x, h_prev]·W_0, with h_prev as its
carry); node i reads its chosen predecessor. The new hidden state is the average of the loose
ends (the nodes no other node reads). Dropout is variational (one mask per sequence): on the
words (dropout_e), the embeddings (dropout_i), the cell input (dropout_x), the recurrent state
(dropout_h) and the output (dropout). The decoder shares the embedding matrix (weight tying).

RnnSupernet is the weight-sharing model of the space (NAO-WS, as ENAS): one matrix per (node,
predecessor) pair, shared by every cell that draws that wire, and one embedding, w0 and decoder
for all; net(ids, hidden, arch) is exactly net.standalone(arch)(ids, hidden).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp.errors import ArchError, ConfigError
from nao_kfp.spaces import RnnArch

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}
CELL_INIT_RANGE = 0.04  # uniform init of the cell matrices, as ENAS/DARTS
EMBED_INIT_RANGE = 0.1


@dataclass(frozen=True)
class RnnSpec:
    """Everything needed to rebuild a language model (stored in checkpoints)."""

    vocab: int
    embedding_size: int = 850
    hidden_size: int = 850
    dropout: float = 0.75
    dropout_h: float = 0.25
    dropout_x: float = 0.75
    dropout_i: float = 0.2
    dropout_e: float = 0.1


def _mask(like: torch.Tensor, shape: tuple[int, ...], p: float) -> torch.Tensor:
    keep = 1.0 - p
    return like.new_empty(shape).bernoulli_(keep) / keep


class _Cell(nn.Module):
    """The recurrence of an ENAS cell given its matrices: w0 for node 1, ws[i] for node i + 2."""

    def __init__(self, ninp: int, nhid: int, dropout_x: float, dropout_h: float):
        super().__init__()
        self.nhid = nhid
        self.dropout_x, self.dropout_h = dropout_x, dropout_h
        r = CELL_INIT_RANGE
        self.w0 = nn.Parameter(torch.empty(ninp + nhid, 2 * nhid).uniform_(-r, r))

    def _matrix(self) -> nn.Parameter:
        r = CELL_INIT_RANGE
        return nn.Parameter(torch.empty(self.nhid, 2 * self.nhid).uniform_(-r, r))

    @staticmethod
    def _highway(s: torch.Tensor, ch: torch.Tensor, act: str) -> torch.Tensor:
        c, h = ch.chunk(2, dim=-1)
        return s + torch.sigmoid(c) * (ACTIVATIONS[act](h) - s)

    def _run(
        self, inputs: torch.Tensor, hidden: torch.Tensor, arch: RnnArch, ws: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs: T×B×ninp, hidden: B×nhid -> (T×B×nhid outputs, last hidden)."""
        acts = [a for _p, a in arch.nodes]
        preds = [p - 1 for p, _a in arch.nodes[1:]]  # node i+2 reads node preds[i]+1
        concat = [i - 1 for i in arch.loose_ends()]
        x_mask = h_mask = None
        if self.training:
            x_mask = _mask(inputs, (inputs.size(1), inputs.size(2)), self.dropout_x)
            h_mask = _mask(hidden, tuple(hidden.shape), self.dropout_h)
        outs = []
        for x in inputs:
            if x_mask is not None and h_mask is not None:
                xh = torch.cat([x * x_mask, hidden * h_mask], dim=-1)
            else:
                xh = torch.cat([x, hidden], dim=-1)
            states = [self._highway(hidden, xh @ self.w0, acts[0])]
            for i, pred in enumerate(preds):
                s = states[pred]
                inp = s * h_mask if h_mask is not None else s
                states.append(self._highway(s, inp @ ws[i], acts[i + 1]))
            hidden = torch.stack([states[i] for i in concat]).mean(0)
            outs.append(hidden)
        return torch.stack(outs), hidden


class EnasCell(_Cell):
    """One architecture's cell: a matrix per node."""

    def __init__(self, arch: RnnArch, ninp: int, nhid: int, dropout_x: float, dropout_h: float):
        super().__init__(ninp, nhid, dropout_x, dropout_h)
        self.arch = arch
        self.ws = nn.ParameterList([self._matrix() for _ in arch.nodes[1:]])

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run(inputs, hidden, self.arch, list(self.ws))


class SharedEnasCell(_Cell):
    """Every cell of the space at once (NAO-WS / ENAS weight sharing): one matrix per (node,
    predecessor) pair, shared by every architecture that wires that node to that predecessor;
    activations have no weights, so a node's four activation choices share its matrices."""

    def __init__(self, nodes: int, ninp: int, nhid: int, dropout_x: float, dropout_h: float):
        super().__init__(ninp, nhid, dropout_x, dropout_h)
        self.nodes = nodes
        # node i (2..nodes) reading node j (1..i-1) has matrix pair_index(i, j)
        self.ws = nn.ParameterList(
            [self._matrix() for i in range(2, nodes + 1) for _j in range(1, i)]
        )

    @staticmethod
    def pair_index(node: int, pred: int) -> int:
        return (node - 2) * (node - 1) // 2 + pred - 1

    def weights_of(self, arch: RnnArch) -> list[nn.Parameter]:
        if len(arch.nodes) != self.nodes:
            raise ArchError(
                f"supernet: the cell has {len(arch.nodes)} nodes, the supernet {self.nodes}"
            )
        return [self.ws[self.pair_index(i, p)] for i, (p, _a) in enumerate(arch.nodes[1:], 2)]

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor, arch: RnnArch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self._run(inputs, hidden, arch, list(self.weights_of(arch)))


class _WordLM(nn.Module):
    """Embedding (tied with the decoder), variational dropouts, a cell, the decoder."""

    cell: _Cell

    def _setup(self, spec: RnnSpec) -> None:
        if spec.embedding_size != spec.hidden_size:
            raise ConfigError(
                "child.rnn.embedding_size: must equal child.rnn.hidden_size "
                f"(weight tying), got {spec.embedding_size} and {spec.hidden_size}"
            )
        self.spec = spec
        self.encoder = nn.Embedding(spec.vocab, spec.embedding_size)
        nn.init.uniform_(self.encoder.weight, -EMBED_INIT_RANGE, EMBED_INIT_RANGE)

    def _setup_decoder(self) -> None:
        self.decoder = nn.Linear(self.spec.hidden_size, self.spec.vocab)
        self.decoder.weight = self.encoder.weight  # weight tying
        nn.init.zeros_(self.decoder.bias)

    def init_hidden(self, batch: int) -> torch.Tensor:
        return self.encoder.weight.new_zeros(batch, self.spec.hidden_size)

    def _embed(self, ids: torch.Tensor) -> torch.Tensor:
        w = self.encoder.weight
        if self.training and self.spec.dropout_e > 0:
            # word dropout: drop whole rows of the embedding matrix for this batch
            w = w * _mask(w, (w.size(0), 1), self.spec.dropout_e)
        return F.embedding(ids, w)

    def _locked(self, x: torch.Tensor, p: float) -> torch.Tensor:
        if not self.training or p <= 0:
            return x
        return x * _mask(x, (1, x.size(1), x.size(2)), p)

    def _lm(
        self, ids: torch.Tensor, hidden: torch.Tensor, arch: RnnArch, ws: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self._locked(self._embed(ids), self.spec.dropout_i)
        out, hidden = self.cell._run(emb, hidden, arch, ws)
        out = self._locked(out, self.spec.dropout)
        return self.decoder(out), hidden


class RnnLM(_WordLM):
    def __init__(self, arch: RnnArch, spec: RnnSpec):
        super().__init__()
        self._setup(spec)
        self.cell = EnasCell(
            arch, spec.embedding_size, spec.hidden_size, spec.dropout_x, spec.dropout_h
        )
        self._setup_decoder()

    def forward(self, ids: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids: T×B word ids -> (T×B×vocab logits, last hidden state)."""
        cell = cast(EnasCell, self.cell)
        return self._lm(ids, hidden, cell.arch, list(cell.ws))


class RnnSupernet(_WordLM):
    """The language model around a SharedEnasCell: net(ids, hidden, arch) runs one cell of the
    space with the shared weights (embedding, decoder and w0 are shared by all)."""

    def __init__(self, nodes: int, spec: RnnSpec):
        super().__init__()
        self._setup(spec)
        self.cell = SharedEnasCell(
            nodes, spec.embedding_size, spec.hidden_size, spec.dropout_x, spec.dropout_h
        )
        self._setup_decoder()

    def forward(
        self, ids: torch.Tensor, hidden: torch.Tensor, arch: RnnArch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """ids: T×B word ids -> (T×B×vocab logits, last hidden state) of `arch`'s cell."""
        cell = cast(SharedEnasCell, self.cell)
        return self._lm(ids, hidden, arch, list(cell.weights_of(arch)))

    def standalone(self, arch: RnnArch) -> RnnLM:
        """A stand-alone RnnLM of `arch` holding a copy of its shared weights (the same
        function of the input as net(..., arch))."""
        net = RnnLM(arch, self.spec)
        cell = cast(SharedEnasCell, self.cell)
        with torch.no_grad():
            net.encoder.weight.copy_(self.encoder.weight)
            net.decoder.bias.copy_(self.decoder.bias)
            net.cell.w0.copy_(cell.w0)
            for mine, shared in zip(
                cast(EnasCell, net.cell).ws, cell.weights_of(arch), strict=True
            ):
                mine.copy_(shared)
        return net.train(self.training)
