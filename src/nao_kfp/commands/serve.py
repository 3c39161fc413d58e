"""`nao serve`: an exported model behind KServe's model server, on this machine or in a pod."""

from __future__ import annotations

import argparse
import re
import socket
from pathlib import Path

# the model's name is a URL path part and the InferenceService's name: a DNS-1123 label
NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 1-65535, got {text!r}")
    return int(text)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def model_name(text: str) -> str:
    """argparse type: a lowercase DNS label (letters, digits, '-'; at most 63)."""
    if not NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected lowercase letters, digits and '-' (at most 63, no leading or trailing "
            f"'-'), got {text!r}"
        )
    return text


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nao_kfp.serve import DEFAULT_NAME, HTTP_PORT

    p = sub.add_parser(
        "serve",
        help="serve an exported model over HTTP (KServe: open inference protocol v2 and v1)",
        description="Loads MODEL_DIR/model.aoti.pt2 (AOTInductor's package, when `nao export` "
        "compiled one and this CPU runs it) or MODEL_DIR/model.pt2, and the input shape and "
        "class names from model.pt, into KServe's model server, after one warm-up request: POST /v2/models/NAME/infer with an FP32 tensor "
        'N×C×H×W of pixels in [0, 1], or POST /v1/models/NAME:predict with {"instances": '
        "[...]}, returns the logits and the class names; /v2/health/ready and /metrics come "
        "with it. Stops on Ctrl-C or SIGTERM. Needs the serve extra (pip install "
        "'nao-kfp[serve]').",
    )
    p.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="what `nao export` wrote")
    p.add_argument(
        "--port", type=port_number, default=HTTP_PORT, help=f"HTTP port (default {HTTP_PORT})"
    )
    p.add_argument(
        "--name", type=model_name, default=DEFAULT_NAME,
        help=f"the model's name in the URLs (default {DEFAULT_NAME})",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=positive_int, default=None,
        help="torch's threads for one request (default: the CPUs this process may run on)",
    )  # fmt: skip
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from nao_kfp.serve import ServeError, load_model, serve

    # every model error before the server starts
    model = load_model(args.model_dir, args.name, threads=args.threads)
    with socket.socket() as s:
        try:
            s.bind(("", args.port))
        except OSError as e:
            raise ServeError(f"--port {args.port}: cannot listen ({e.strerror or e})") from None
    serve(model, port=args.port)
    return 0
