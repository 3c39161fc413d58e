"""The NAO controller: encoder, predictor, decoder, joint training, embedding optimization."""

from nao_kfp.controller.metrics import hamming, pairwise_accuracy
from nao_kfp.controller.nao import CheckpointError, NAOModel
from nao_kfp.controller.optimize import (
    Embeddings,
    decode_candidates,
    decode_new,
    eta_ladder,
    optimize_embeddings,
)
from nao_kfp.controller.train import ControllerError, evaluate, fit

__all__ = [
    "CheckpointError",
    "ControllerError",
    "Embeddings",
    "NAOModel",
    "decode_candidates",
    "decode_new",
    "eta_ladder",
    "evaluate",
    "fit",
    "hamming",
    "optimize_embeddings",
    "pairwise_accuracy",
]
