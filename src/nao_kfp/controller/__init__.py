"""The NAO controller: encoder, predictor, decoder, joint training, embedding optimization.

Its names load on first use (PEP 562): the pipeline's torch-free steps (merge's pairwise
accuracy) import this package without paying for torch, which the model modules import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as mypy sees them (`as`: re-exported)
    from nao_kfp.controller.metrics import hamming as hamming
    from nao_kfp.controller.metrics import pairwise_accuracy as pairwise_accuracy
    from nao_kfp.controller.nao import CheckpointError as CheckpointError
    from nao_kfp.controller.nao import NAOModel as NAOModel
    from nao_kfp.controller.optimize import Embeddings as Embeddings
    from nao_kfp.controller.optimize import decode_candidates as decode_candidates
    from nao_kfp.controller.optimize import decode_new as decode_new
    from nao_kfp.controller.optimize import eta_ladder as eta_ladder
    from nao_kfp.controller.optimize import optimize_embeddings as optimize_embeddings
    from nao_kfp.controller.train import ControllerError as ControllerError
    from nao_kfp.controller.train import evaluate as evaluate
    from nao_kfp.controller.train import fit as fit

# name -> the module of this package that defines it
_HOME = {
    "hamming": "metrics",
    "pairwise_accuracy": "metrics",
    "CheckpointError": "nao",
    "NAOModel": "nao",
    "Embeddings": "optimize",
    "decode_candidates": "optimize",
    "decode_new": "optimize",
    "eta_ladder": "optimize",
    "optimize_embeddings": "optimize",
    "ControllerError": "train",
    "evaluate": "train",
    "fit": "train",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
