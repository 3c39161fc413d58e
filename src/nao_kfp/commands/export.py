"""`nao export`: a child or final checkpoint as a model that loads with torch alone."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from nao_kfp.commands.common import add_config_args, path_arg
from nao_kfp.config import load_config
from nao_kfp.preflight import output_dir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained child or final network as a stand-alone model",
        description="Writes DIR/model.pt (architecture, network settings, weights, data "
        "normalization, classes), DIR/model.pt2 (a torch.export program: pixels in [0, 1] to "
        "logits, loadable with only torch installed), DIR/model.aoti.pt2 (the same program "
        "compiled ahead of time by AOTInductor, which `nao serve` runs; where a C++ compiler is "
        "found, a minute or more) and DIR/model.json; prints a JSON line with the paths and the "
        "command that loads the model. --config/--set are needed only for "
        "checkpoints that record no data normalization (older ones), and for s3:// checkpoints "
        "(cluster.s3_endpoint; credentials from S3_ACCESS_KEY and S3_SECRET_KEY).",
    )
    p.add_argument(
        "--checkpoint", required=True,
        help="checkpoint.pt written by train-child or the final training (or its folder), or a "
        "store's: its path in a local store or s3://BUCKET/KEY",
    )  # fmt: skip
    p.add_argument("--out", required=True, type=path_arg, help="folder for the exported model")
    p.add_argument(
        "--aot-compile", action=argparse.BooleanOptionalAction, default=True,
        help="compile model.aoti.pt2 with AOTInductor (default: yes, where $CXX or g++ runs)",
    )  # fmt: skip
    add_config_args(p, default=None)
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from nao_kfp.export import (
        INFO_FILE,
        MODEL_FILE,
        PACKAGE_FILE,
        PROGRAM_FILE,
        ExportError,
        export_model,
    )

    if not args.checkpoint.strip():
        raise ExportError("--checkpoint: expected a checkpoint file or folder, got ''")
    output_dir(args.out, "--out", files=(MODEL_FILE, PROGRAM_FILE, PACKAGE_FILE, INFO_FILE))

    configured = args.config is not None or bool(args.overrides)
    cfg = load_config(args.config, args.overrides) if configured else None
    out = export_model(
        args.checkpoint,
        args.out,
        child_cfg=cfg.child if cfg else None,
        cluster=cfg.cluster if cfg else None,
        aot_compile=args.aot_compile,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(json.dumps(dataclasses.asdict(out), sort_keys=True))
    return 0
