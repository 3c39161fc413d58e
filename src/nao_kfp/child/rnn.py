"""The ENAS recurrent cell from an RnnArch, inside a word-level language model.

Each node is a highway unit, as in the ENAS and DARTS PyTorch cells that NAO's RNN search uses:
from its input state s it computes [c, h] = s·W_i, then s' = s + sigmoid(c) * (act_i(h) - s).
Node 1 reads the input and the previous hidden state ([x, h_prev]·W_0, with h_prev as its
carry); node i reads its chosen predecessor. The new hidden state is the average of the loose
ends (the nodes no other node reads). Dropout is variational (one mask per sequence): on the
words (dropout_e), the embeddings (dropout_i), the cell input (dropout_x), the recurrent state
(dropout_h) and the output (dropout). The decoder shares the embedding matrix (weight tying).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nao_kfp.errors import ConfigError
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


class EnasCell(nn.Module):
    def __init__(self, arch: RnnArch, ninp: int, nhid: int, dropout_x: float, dropout_h: float):
        super().__init__()
        self.nhid = nhid
        self.acts = [a for _p, a in arch.nodes]
        self.preds = [p - 1 for p, _a in arch.nodes[1:]]  # node i+2 reads node preds[i]+1
        self.concat = [i - 1 for i in arch.loose_ends()]
        self.dropout_x, self.dropout_h = dropout_x, dropout_h
        r = CELL_INIT_RANGE
        self.w0 = nn.Parameter(torch.empty(ninp + nhid, 2 * nhid).uniform_(-r, r))
        self.ws = nn.ParameterList(
            [nn.Parameter(torch.empty(nhid, 2 * nhid).uniform_(-r, r)) for _ in self.preds]
        )

    @staticmethod
    def _highway(s: torch.Tensor, ch: torch.Tensor, act: str) -> torch.Tensor:
        c, h = ch.chunk(2, dim=-1)
        return s + torch.sigmoid(c) * (ACTIVATIONS[act](h) - s)

    def forward(
        self, inputs: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs: T×B×ninp, hidden: B×nhid -> (T×B×nhid outputs, last hidden)."""
        x_mask = h_mask = None
        if self.training:
            x_mask = _mask(inputs, (inputs.size(1), inputs.size(2)), self.dropout_x)
            h_mask = _mask(hidden, tuple(hidden.shape), self.dropout_h)
        outs = []
        for x in inputs:
            hidden = self._step(x, hidden, x_mask, h_mask)
            outs.append(hidden)
        return torch.stack(outs), hidden

    def _step(
        self,
        x: torch.Tensor,
        h: torch.Tensor,
        x_mask: torch.Tensor | None,
        h_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        if x_mask is not None and h_mask is not None:
            xh = torch.cat([x * x_mask, h * h_mask], dim=-1)
        else:
            xh = torch.cat([x, h], dim=-1)
        states = [self._highway(h, xh @ self.w0, self.acts[0])]
        for i, pred in enumerate(self.preds):
            s = states[pred]
            inp = s * h_mask if h_mask is not None else s
            states.append(self._highway(s, inp @ self.ws[i], self.acts[i + 1]))
        return torch.stack([states[i] for i in self.concat]).mean(0)


class RnnLM(nn.Module):
    def __init__(self, arch: RnnArch, spec: RnnSpec):
        super().__init__()
        if spec.embedding_size != spec.hidden_size:
            raise ConfigError(
                "child.rnn.embedding_size: must equal child.rnn.hidden_size "
                f"(weight tying), got {spec.embedding_size} and {spec.hidden_size}"
            )
        self.spec = spec
        self.encoder = nn.Embedding(spec.vocab, spec.embedding_size)
        nn.init.uniform_(self.encoder.weight, -EMBED_INIT_RANGE, EMBED_INIT_RANGE)
        self.cell = EnasCell(
            arch, spec.embedding_size, spec.hidden_size, spec.dropout_x, spec.dropout_h
        )
        self.decoder = nn.Linear(spec.hidden_size, spec.vocab)
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

    def forward(self, ids: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids: T×B word ids -> (T×B×vocab logits, last hidden state)."""
        emb = self._locked(self._embed(ids), self.spec.dropout_i)
        out, hidden = self.cell(emb, hidden)
        out = self._locked(out, self.spec.dropout)
        return self.decoder(out), hidden
