"""Encoder E, predictor f and decoder D of NAO (paper §3.2), as in the official NAO code.

- E: token embedding -> one LSTM layer; every hidden state is L2-normalized, the sequence {h_t}
  is the architecture's embedding and its normalized mean is the pooled form.
- f: pooled form -> MLP (ReLU, dropout) -> sigmoid; targets are min-max normalized to [0, 1].
- D: an LSTM whose state starts at the pooled embedding, Luong attention over {h_t} (concat,
  linear, tanh), projection to the vocabulary. Tokens a position cannot hold are masked to -inf
  before the softmax, so D only ever emits valid architectures. The decoder reads a separate
  start token (index vocab_size) before the first position.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nao_kfp.config import ControllerConfig

# Residual branches are added and scaled by sqrt(0.5) so their sum keeps unit variance
# (the official NAO decoder does the same).
_RES_SCALE = math.sqrt(0.5)


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[None]:
    """torch's CPU thread count set to n (0: unchanged) for the block, then restored."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Attention(nn.Module):
    """Luong attention: score = (W q) . h_s; out = tanh(W' [context; q])."""

    def __init__(self, dim: int):
        super().__init__()
        self.query = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(2 * dim, dim, bias=False)

    def forward(self, q: Tensor, states: Tensor) -> Tensor:
        scores = torch.bmm(self.query(q), states.transpose(1, 2))  # B x Tq x Ts
        context = torch.bmm(torch.softmax(scores, dim=-1), states)
        return torch.tanh(self.out(torch.cat((context, q), dim=-1)))


class Seq2Seq(nn.Module):
    """The three parts as one module, so one optimizer and one state_dict hold them."""

    def __init__(self, vocab_size: int, seq_len: int, mask: Tensor, cfg: ControllerConfig):
        super().__init__()
        self.vocab_size, self.seq_len, self.threads = vocab_size, seq_len, cfg.threads
        h = cfg.hidden_size
        self.enc_embed = nn.Embedding(vocab_size, cfg.embedding_size)
        self.enc_rnn = nn.LSTM(cfg.embedding_size, h, batch_first=True)
        self.mlp = _mlp(h, cfg)
        # controller.ensemble - 1 more predictor heads on the same encoder (none by default, so
        # a one-head checkpoint keeps its keys); f is their mean, their spread an uncertainty
        self.more_heads = nn.ModuleList(_mlp(h, cfg) for _ in range(cfg.ensemble - 1))
        self.dec_embed = nn.Embedding(vocab_size + 1, h)  # + the start token
        self.dec_rnn = nn.LSTM(h, h, batch_first=True)
        self.attention = Attention(h)
        self.proj = nn.Linear(h, vocab_size)
        # seq_len x vocab; True where the token is NOT allowed (a buffer: saved and moved with the model)
        self.invalid: Tensor
        self.register_buffer("invalid", ~mask, persistent=False)

    # ------------------------------------------------------------ encoder and predictor

    def encode(self, tokens: Tensor) -> Tensor:
        """B x L tokens -> B x L x H normalized encoder states."""
        out, _ = self.enc_rnn(self.enc_embed(tokens))
        return F.normalize(out, p=2, dim=-1)

    @staticmethod
    def pool(states: Tensor) -> Tensor:
        return F.normalize(states.mean(dim=1), p=2, dim=-1)

    def head_logits(self, states: Tensor) -> Tensor:
        """B x L x H states -> heads x B predictor logits (before the sigmoid)."""
        return self.pooled_logits(self.pool(states))

    def pooled_logits(self, pooled: Tensor) -> Tensor:
        """B x H pooled embeddings -> heads x B predictor logits."""
        return torch.stack([m(pooled).squeeze(-1) for m in self.heads()])

    def heads(self) -> list[nn.Module]:
        return [self.mlp, *self.more_heads]

    def predict_heads(self, states: Tensor) -> Tensor:
        """heads x B scores in [0, 1] (normalized accuracy), one row per predictor head."""
        return torch.sigmoid(self.head_logits(states))

    def predict(self, states: Tensor) -> Tensor:
        """B x L x H states -> B scores in [0, 1] (normalized accuracy): the heads' mean."""
        return self.predict_heads(states).mean(dim=0)

    # ------------------------------------------------------------ decoder

    def _init_state(self, states: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.pool(states).unsqueeze(0)
        return pooled, pooled

    def _step_logits(
        self, x: Tensor, state: tuple[Tensor, Tensor], states: Tensor, pos: slice
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        out, new_state = self.dec_rnn(x, state)
        out = (x + out) * _RES_SCALE
        out = (out + self.attention(out, states)) * _RES_SCALE
        logits = self.proj(out).masked_fill(self.invalid[pos], float("-inf"))
        return logits, new_state

    def decode_logits(self, states: Tensor, tokens: Tensor) -> Tensor:
        """Teacher forcing over all positions in one LSTM call: B x L x V masked logits."""
        start = torch.full_like(tokens[:, :1], self.vocab_size)
        x = self.dec_embed(torch.cat((start, tokens[:, :-1]), dim=1))
        logits, _ = self._step_logits(x, self._init_state(states), states, slice(None))
        return logits

    @torch.no_grad()
    def greedy(self, states: Tensor) -> Tensor:
        """Greedy decoding, one position at a time, batched over architectures: B x L tokens."""
        # oneDNN builds a kernel per new shape (seconds on a busy CPU) and gains nothing on a
        # one-step LSTM call, so stepwise decoding uses torch's native kernels.
        # torch.backends.mkldnn.flags() warns about Intel-GPU TF32 on every call; irrelevant here.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration")
            with torch.backends.mkldnn.flags(enabled=False), cpu_threads(self.threads):
                return self._greedy(states)

    @torch.no_grad()
    def beam(self, states: Tensor, width: int) -> Tensor:
        """The `width` most likely sequences of each row (beam search): B x width x L tokens,
        most likely first (with width 1, greedy decoding)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TF32 acceleration")
            with torch.backends.mkldnn.flags(enabled=False), cpu_threads(self.threads):
                return self._beam(states, width)

    def _beam(self, states: Tensor, width: int) -> Tensor:
        b, n = states.size(0), states.size(1)
        # every row starts as one live beam; the others get -inf until the first step fills them
        h, c = self._init_state(states)
        rep = states.unsqueeze(1).expand(b, width, n, states.size(2)).reshape(b * width, n, -1)
        state = (h.repeat_interleave(width, 1), c.repeat_interleave(width, 1))
        score = torch.full((b, width), float("-inf"), device=states.device)
        score[:, 0] = 0.0
        tok = torch.full((b * width, 1), self.vocab_size, dtype=torch.long, device=states.device)
        seqs = torch.zeros((b, width, 0), dtype=torch.long, device=states.device)
        for pos in range(self.seq_len):
            logits, state = self._step_logits(self.dec_embed(tok), state, rep, slice(pos, pos + 1))
            logp = torch.log_softmax(logits.squeeze(1), dim=-1).view(b, width, -1)
            total = (score.unsqueeze(-1) + logp).view(b, -1)  # b x (width * vocab)
            score, flat = total.topk(width, dim=-1)
            beam, new_tok = flat // self.vocab_size, flat % self.vocab_size
            seqs = torch.cat(
                (seqs.gather(1, beam.unsqueeze(-1).expand(-1, -1, pos)), new_tok.unsqueeze(-1)), -1
            )
            rows = (beam + torch.arange(b, device=states.device).unsqueeze(1) * width).flatten()
            state = (state[0][:, rows], state[1][:, rows])
            tok = new_tok.reshape(b * width, 1)
        return seqs

    def _greedy(self, states: Tensor) -> Tensor:
        b = states.size(0)
        state = self._init_state(states)
        tok = torch.full((b, 1), self.vocab_size, dtype=torch.long, device=states.device)
        out = []
        for pos in range(self.seq_len):
            logits, state = self._step_logits(
                self.dec_embed(tok), state, states, slice(pos, pos + 1)
            )
            tok = logits.argmax(dim=-1)
            out.append(tok)
        return torch.cat(out, dim=1)


def _mlp(width: int, cfg: ControllerConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(cfg.mlp_layers):
        layers += [nn.Linear(width, cfg.mlp_hidden), nn.ReLU(), nn.Dropout(cfg.dropout)]
        width = cfg.mlp_hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def mask_tensor(valid_mask: Sequence[Sequence[bool]]) -> Tensor:
    return torch.tensor(valid_mask, dtype=torch.bool)
