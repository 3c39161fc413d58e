"""`nao controller fit` (train E, f, D on a pool) and `nao controller propose` (new archs).

Both print, as their last stdout line, one JSON object with what they did; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp import rounds
from nao_kfp.commands.common import (
    add_config_args,
    config_from_args,
    finite_float,
    flag_overrides,
    path_arg,
    positive_int,
    seed_int,
)
from nao_kfp.config import load_config
from nao_kfp.errors import NaoError
from nao_kfp.evaluators import make_evaluator
from nao_kfp.pool import evaluated, read_pool, write_pool
from nao_kfp.preflight import output_dir, output_file
from nao_kfp.spaces import SPACES, get_space

if TYPE_CHECKING:
    from nao_kfp.controller import NAOModel

# propose's flags for search keys
FLAG_OF = {"top_k": "--seeds", "new_archs": "--count", "eta": "--eta",
           "eta_growth": "--eta-growth", "eta_max": "--eta-max"}  # fmt: skip


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    top = sub.add_parser("controller", help="train the NAO controller or propose new architectures")
    cmds = top.add_subparsers(dest="controller_command", required=True, parser_class=type(top))

    p = cmds.add_parser(
        "fit",
        help="train encoder, predictor and decoder on an evaluated pool",
        description="Train the controller on the evaluated architectures of POOL and write a "
        "self-describing checkpoint to DIR. The last stdout line is a JSON object with seconds, "
        "epochs, n_train, pairwise_accuracy and hamming (on --eval when given).",
    )
    p.add_argument(
        "--space",
        choices=list(SPACES),
        default=None,
        help="search space (default: the config's search.space)",
    )
    p.add_argument(
        "--train",
        type=path_arg,
        required=True,
        metavar="POOL.jsonl",
        help="evaluated pool to learn from",
    )
    p.add_argument(
        "--eval",
        type=path_arg,
        default=None,
        metavar="POOL.jsonl",
        help="pool to report quality on",
    )
    add_config_args(p, default=None)
    p.add_argument(
        "--seed",
        type=seed_int,
        default=None,
        help="random seed (default: the config's search.seed)",
    )
    p.add_argument(
        "--init", type=path_arg, default=None, metavar="DIR", help="warm-start from this checkpoint"
    )
    p.add_argument(
        "--out", type=path_arg, required=True, metavar="DIR", help="checkpoint directory to write"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress on stderr")
    p.set_defaults(func=cmd_fit)

    p = cmds.add_parser(
        "propose",
        help="optimize the embeddings of the best archs and decode new ones",
        description="Move the encoder states of the K best architectures of POOL along the "
        "predictor's gradient and decode up to M architectures that are not in POOL. eta and "
        "the counts default to the config's search section.",
    )
    p.add_argument(
        "--model",
        type=path_arg,
        required=True,
        metavar="DIR",
        help="checkpoint from `nao controller fit`",
    )
    p.add_argument(
        "--pool",
        type=path_arg,
        required=True,
        metavar="POOL.jsonl",
        help="evaluated pool (seeds and known archs)",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        metavar="K",
        help="top-K seeds (default: search.top_k)",
    )
    p.add_argument(
        "--count",
        type=positive_int,
        default=None,
        metavar="M",
        help="new archs wanted (default: search.new_archs)",
    )
    p.add_argument("--eta", type=finite_float, default=None, help="step size (default: search.eta)")
    p.add_argument(
        "--eta-growth",
        type=finite_float,
        default=None,
        help="eta factor after a duplicate (default: search.eta_growth)",
    )
    p.add_argument(
        "--eta-max",
        type=finite_float,
        default=None,
        help="largest step size (default: search.eta_max)",
    )
    add_config_args(p, default=None)
    p.add_argument(
        "--out",
        type=path_arg,
        required=True,
        metavar="NEW.jsonl",
        help="pool file of the new archs",
    )
    p.set_defaults(func=cmd_propose)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _load_model(path: Path, flag: str) -> NAOModel:
    from nao_kfp import controller  # torch is imported only when a controller command runs

    try:
        return controller.NAOModel.load(path)
    except NaoError:
        raise
    except Exception as e:  # torch.load: pickle, zip and unpickling-policy errors alike
        raise controller.CheckpointError(
            f"{flag} {path}: not a controller checkpoint ({type(e).__name__})"
        ) from None


def cmd_fit(args: argparse.Namespace) -> int:
    # the flags win over the config, but not over a --set that says otherwise
    flag_overrides(args.overrides, {"search.space": ("--space", args.space),
                                    "search.seed": ("--seed", args.seed)})  # fmt: skip
    cfg = config_from_args(args)
    from nao_kfp import controller
    from nao_kfp.controller.nao import SUMMARY, WEIGHTS

    output_dir(args.out, "--out", files=(WEIGHTS, SUMMARY))
    space = get_space(args.space or cfg.search.space)
    init = _load_model(args.init, "--init") if args.init else None
    eval_set = read_pool(args.eval) if args.eval else None
    model, metrics = controller.fit(
        space, read_pool(args.train), cfg.controller,
        seed=cfg.search.seed if args.seed is None else args.seed,
        init=init, eval_set=eval_set, log=None if args.quiet else _stderr,
    )  # fmt: skip
    path = model.save(args.out)
    print(json.dumps({**metrics, "space": space.name, "model": str(path)}, sort_keys=True))
    return 0


def cmd_propose(args: argparse.Namespace) -> int:
    """The search's own proposal step (rounds.propose), so every search.* key holds here too:
    select, beam, candidates, fill, random_share, the budgets; the flags override theirs."""
    from nao_kfp import controller

    flags = {"top_k": args.seeds, "new_archs": args.count, "eta": args.eta,
             "eta_growth": args.eta_growth, "eta_max": args.eta_max}  # fmt: skip
    overrides = flag_overrides(
        args.overrides, {f"search.{k}": (FLAG_OF[k], v) for k, v in flags.items()}
    )
    cfg = load_config(args.config, [*args.overrides, *overrides])
    output_file(args.out, "--out")
    model = _load_model(args.model, "--model")
    # the model's space wins over the config's (a config checked for the space it will serve)
    cfg = load_config(
        args.config, [*args.overrides, *overrides, f"search.space={model.space.name}"]
    )
    pool = read_pool(args.pool)
    top_k = rounds.top_k(cfg, pool)
    emb = controller.optimize_embeddings(model, evaluated(pool), top_k=top_k)
    round_index = max((e.round or 0 for e in pool), default=0)
    new = rounds.propose(cfg, model, emb, pool, make_evaluator(cfg), round_index)
    write_pool(args.out, new)
    summary = {
        "count": len(new),
        "seeds": top_k,
        "max_eta": max((e.eta for e in new if e.eta is not None), default=None),
        "predicted_after_max": max(
            (e.predicted for e in new if e.predicted is not None), default=None
        ),
        "out": str(args.out),
    }
    print(json.dumps(summary, sort_keys=True))
    return 0
