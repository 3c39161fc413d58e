"""`nao search` (run the pipeline here), `nao compile` (KFP YAML) and `nao submit` (to a cluster).

kfp is imported inside the commands only: the library itself never imports it.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from nao_kfp.commands.common import add_config_args, config_from_args, path_arg
from nao_kfp.errors import NaoError, shorten
from nao_kfp.final import MODEL_DIR, final_summary, read_final
from nao_kfp.preflight import check_inputs, check_run_dir, output_dir, output_file
from nao_kfp.records import read_result
from nao_kfp.runinfo import next_steps
from nao_kfp.summary import summary_table

if TYPE_CHECKING:
    from nao_kfp.config import Config
    from nao_kfp.records import SearchResult
    from nao_kfp.results import FinalOutcome

# How long `nao submit` waits for the API server's TCP port before giving up.
CONNECT_TIMEOUT_S = 5.0
# Where a local run keeps the final training's model folder (model/, final.json in it) under DIR.
FINAL_SUBDIR = "final"
# The files a run writes at the top of DIR (pipelines/local.py; the report's images beside them)
RUN_FILES = ("config.json", "kfp.log", "result.json", "pool.jsonl", "report.md", "report.html")


class SubmitError(NaoError):
    """The Kubeflow Pipelines API could not be reached or refused the run."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "search",
        help="run the NAO search pipeline on this machine (kfp.local)",
        description="Run the search pipeline with kfp.local into DIR: progress on stderr, a "
        "summary table at the end, DIR/result.json and DIR/report.md|html. Re-running into the "
        "same DIR reuses every finished child (DIR/store).",
    )
    add_config_args(p)
    p.add_argument(
        "--out", type=path_arg, default=None, help="run directory (default: runs/<name>-<time>)"
    )
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("compile", help="compile the search pipeline to KFP YAML")
    add_config_args(p)
    p.add_argument("-o", "--output", type=path_arg, required=True, help="pipeline YAML to write")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("submit", help="create a run on a Kubeflow Pipelines cluster")
    add_config_args(p)
    p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    p.add_argument("--experiment", required=True, help="experiment name (created if missing)")
    p.add_argument("--run-name", default=None, help="run name (default: <name>-<time>)")
    p.add_argument(
        "--package", type=path_arg, default=None, help="submit this compiled YAML instead"
    )
    p.set_defaults(func=cmd_submit)


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def cmd_search(args: argparse.Namespace) -> int:
    start = time.monotonic()
    cfg = config_from_args(args)

    out = output_dir(args.out or Path("runs") / f"{cfg.name}-{_stamp()}", "--out", files=RUN_FILES)
    check_run_dir(out, cfg)
    check_inputs(cfg)  # before the run directory exists: a run that cannot start leaves none
    print(  # first, within seconds: torch and kfp load after it
        f"nao search: {cfg.name} preset, {cfg.search.rounds} rounds on {cfg.child.dataset} "
        f"({cfg.search.space} space, {cfg.evaluator.kind} evaluator, seed {cfg.search.seed}) "
        f"into {out}",
        file=sys.stderr,
        flush=True,
    )
    from nao_kfp.pipelines.local import local_config, run_local

    run_local(cfg, out, started=start)
    result = read_result(out / "result.json")
    print(summary_table(result))
    print(
        f"finished in {time.monotonic() - start:.0f}s; result: {out / 'result.json'}, report: {out / 'report.html'}"
    )
    final = read_final(out / FINAL_SUBDIR / MODEL_DIR)  # the model copied into DIR (run_local)
    if final:  # last, so that the model and its load command are what the user sees
        print(final_summary(final))
    for line in next_lines(local_config(cfg, out), out, result, final):
        print(line)
    return 0


def next_lines(
    cfg: Config, out: Path, result: SearchResult, final: FinalOutcome | None
) -> list[str]:
    """What to do next, as `nao search` ends: serve the final model, else export and serve the
    best child's checkpoint (in the run's store: `cfg` is the run's local config) or train it
    at full size first; nothing for evaluators that train no network."""

    steps = next_steps(cfg, result, final=final, folder=out)
    return ["next:"] + [f"  {what}:\n    {command}" for what, command in steps] if steps else []


def cmd_compile(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)

    output_file(args.output, "-o")
    from nao_kfp.pipelines.search import compile_pipeline

    print(compile_pipeline(cfg, args.output))
    return 0


def check_reachable(host: str) -> None:
    """Fail fast, with one line, when nothing listens at the host's port (the kfp client would
    otherwise retry for a long while and end in a long traceback)."""
    shown = shorten(host, 120)
    try:
        url = urllib.parse.urlparse(host if "://" in host else f"http://{host}")
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:  # a port out of range, a malformed address
        url, port = None, 0
    if url is None or not url.hostname:
        raise SubmitError(f"--host {shown}: expected a URL such as http://localhost:8080")
    try:
        with socket.create_connection((url.hostname, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except (OSError, UnicodeError) as e:  # UnicodeError: a host name IDNA cannot encode
        why = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise SubmitError(
            f"--host {shown}: cannot reach the Kubeflow Pipelines API ({why})"
        ) from None


def cmd_submit(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.package is not None and not args.package.is_file():
        raise SubmitError(f"--package {args.package}: no such file (expected `nao compile` YAML)")
    check_reachable(args.host)
    import kfp

    from nao_kfp.pipelines.search import build_pipeline

    run_name = args.run_name or f"{cfg.name}-{_stamp()}"
    try:
        client = kfp.Client(host=args.host)
        if args.package:
            run = client.create_run_from_pipeline_package(
                str(args.package), arguments={}, run_name=run_name, experiment_name=args.experiment
            )
        else:
            run = client.create_run_from_pipeline_func(
                build_pipeline(cfg),
                arguments={},
                run_name=run_name,
                experiment_name=args.experiment,
            )
    except Exception as e:  # the client raises urllib3, kfp_server_api and HTTP errors alike
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise SubmitError(
            f"--host {args.host}: the run was not created ({type(e).__name__}: {first})"
        ) from None
    print(
        f"run {run.run_id} created in experiment {args.experiment!r}: {args.host.rstrip('/')}/#/runs/details/{run.run_id}"
    )
    return 0
