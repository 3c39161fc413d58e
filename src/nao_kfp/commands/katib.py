"""`nao katib serve` (the Katib suggestion service) and `nao katib check` (an Experiment file)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import yaml

from nao_kfp.commands.serve import port_number
from nao_kfp.errors import NaoError
from nao_kfp.katib import STUBS

KATIB_DATA = "/opt/katib/data"  # where Katib mounts a suggestion's volume (resumePolicy FromVolume)
NEEDS = (
    f"the katib extra and Katib's gRPC stubs: pip install 'nao-kfp[katib]' && "
    f"pip install --no-deps {STUBS}"
)


def _katib() -> None:
    """Katib's stubs are importable, or one line saying how to install them."""
    try:
        import grpc_health.v1.health  # noqa: F401
        import kubeflow.katib.katib_api_pb2_grpc  # noqa: F401
    except ModuleNotFoundError as e:
        raise NaoError(f"nao katib: needs {NEEDS} (no module {e.name})") from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "katib",
        help="NAO as a Katib algorithm: the suggestion service, and a check of an Experiment",
        description="Katib runs an Experiment with `algorithmName: nao` by asking this service "
        f"for the next architectures. Needs {NEEDS}.",
    )
    sub2 = p.add_subparsers(dest="katib_command", required=True)
    s = sub2.add_parser(
        "serve",
        help="serve Katib's Suggestion API (gRPC) until stopped",
        description="Answers GetSuggestions and ValidateAlgorithmSettings (Katib api.v1beta1) "
        "and gRPC health checks. Keeps nothing between calls but a cache of the steps it ran "
        "(--work): a restart proposes the same architectures. Stops on Ctrl-C or SIGTERM.",
    )
    s.add_argument(
        "--port", type=port_or_any, default=None, help="gRPC port (default 6789; 0: any free one)"
    )
    s.add_argument(
        "--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0: every one)"
    )
    s.add_argument(
        "--work", type=Path, default=None,
        help=f"the steps' cache (default {KATIB_DATA} when writable, else a temporary folder)",
    )  # fmt: skip
    s.set_defaults(func=cmd_serve)
    c = sub2.add_parser(
        "check",
        help="check an Experiment file as the service will (prints the search it runs)",
        description="Reads the Experiment resource(s) in FILE (YAML, as for kubectl apply) and "
        "prints the search NAO runs for each, or every problem the service would refuse it for.",
    )
    c.add_argument("file", type=Path, metavar="FILE")
    c.set_defaults(func=cmd_check)


def cmd_serve(args: argparse.Namespace) -> int:
    _katib()
    from nao_kfp.katib.service import PORT, serve

    work = _work_dir(args.work)
    server, port = serve(PORT if args.port is None else args.port, work, host=args.host)
    print(f"nao katib: serving Katib's Suggestion API on port {port} (cache {work})", flush=True)
    try:
        server.wait_for_termination()
    finally:
        server.stop(grace=5)
    return 0


def port_or_any(text: str) -> int:
    """argparse type: a TCP port, or 0 for any free one."""
    return 0 if text == "0" else port_number(text)


def _work_dir(given: Path | None) -> Path:
    if given is not None:
        try:
            given.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise NaoError(f"--work {given}: cannot create ({e.strerror or e})") from None
        if not os.access(given, os.W_OK):
            raise NaoError(f"--work {given}: not writable")
        return given
    data = Path(KATIB_DATA)
    if data.is_dir() and os.access(data, os.W_OK):
        return data
    return Path(tempfile.gettempdir()) / "nao-katib"


def cmd_check(args: argparse.Namespace) -> int:
    _katib()
    from nao_kfp.katib.experiment import experiment_message, read_experiment

    try:
        docs = [d for d in yaml.safe_load_all(args.file.read_text()) if d]
    except OSError as e:
        raise NaoError(f"{args.file}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise NaoError(f"{args.file}: not valid YAML ({str(e).splitlines()[0]})") from None
    found = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Experiment"]
    if not found:
        raise NaoError(f"{args.file}: no Experiment resource (kind: Experiment)")
    for doc in found:
        exp = read_experiment(experiment_message(doc))
        s = exp.cfg.search
        print(
            f"{exp.name}: {s.space} architectures as parameter {exp.parameter}, score "
            f"{exp.metric}; {s.max_evaluations} trials: {s.initial_archs} first, then "
            f"{s.new_archs} a round, {s.rounds} rounds; evaluator {exp.cfg.evaluator.kind}, "
            f"seed {s.seed}",
            file=sys.stdout,
        )
    return 0
