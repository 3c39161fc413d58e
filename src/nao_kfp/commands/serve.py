"""`nao serve`: an exported model behind KServe's model server, on this machine or in a pod."""

from __future__ import annotations

import argparse
import re
import socket

from nao_kfp.commands.common import path_arg
from nao_kfp.errors import shown

# the model's name is a URL path part and the InferenceService's name: a DNS-1123 label
NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def port_number(text: str) -> int:
    """argparse type: a TCP port, 1-65535."""
    if not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 1-65535, got {shown(text, 40)}")
    return int(text)


MAX_THREADS = 1024  # more than the cores of any machine a model is served on


def thread_count(text: str) -> int:
    """argparse type: torch's thread count, 1-MAX_THREADS."""
    if not text.isdigit() or len(text) > 5 or not 1 <= int(text) <= MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of threads 1-{MAX_THREADS}, got {shown(text, 40)}"
        )
    return int(text)


def model_name(text: str) -> str:
    """argparse type: a lowercase DNS label (letters, digits, '-'; at most 63)."""
    if not NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"expected lowercase letters, digits and '-' (at most 63, no leading or trailing "
            f"'-'), got {shown(text, 80)}"
        )
    return text


def host_address(text: str) -> str:
    """argparse type: an address to listen on (an IP address or a host name this machine
    resolves)."""
    try:
        socket.getaddrinfo(text, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise argparse.ArgumentTypeError(
            f"expected an IP address or host name to listen on, got {text[:60]!r}"
        ) from None
    return text


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nao_kfp.serve import DEFAULT_NAME, HOST, HTTP_PORT

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
    p.add_argument("model_dir", type=path_arg, metavar="MODEL_DIR", help="what `nao export` wrote")
    p.add_argument(
        "--port", type=port_number, default=HTTP_PORT, help=f"HTTP port (default {HTTP_PORT})"
    )
    p.add_argument(
        "--host", type=host_address, default=HOST,
        help=f"address to listen on (default {HOST}, every interface, as a KServe container "
        "needs; 127.0.0.1: this machine only)",
    )  # fmt: skip
    p.add_argument(
        "--name", type=model_name, default=DEFAULT_NAME,
        help=f"the model's name in the URLs (default {DEFAULT_NAME})",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=thread_count, default=None,
        help="torch's threads for one request (default: the CPUs this process may run on)",
    )  # fmt: skip
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from nao_kfp.serve import ServeError, load_model, model_summary, serve

    # every model error before the server starts; what the model is, then how it runs
    loaded: list[str] = []
    model = load_model(args.model_dir, args.name, threads=args.threads, log=loaded.append)
    print(model_summary(args.model_dir, args.name, args.port), *loaded, sep="\n", flush=True)
    family = socket.getaddrinfo(args.host, args.port, proto=socket.IPPROTO_TCP)[0][0]
    with socket.socket(family) as s:
        try:
            s.bind((args.host, args.port))
        except OSError as e:
            raise ServeError(
                f"--host {args.host} --port {args.port}: cannot listen ({e.strerror or e})"
            ) from None
    serve(model, port=args.port, host=args.host)
    return 0
