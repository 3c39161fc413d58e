"""The Katib suggestion service: `algorithmName: nao` answered over gRPC (api.v1beta1).

Katib's controller calls GetSuggestions with the Experiment and all its trials whenever it
wants `current_request_number` new trials, and ValidateAlgorithmSettings once before the first.
The servicer only translates: the Experiment to a config (experiment.py), the trials to
results and the results to the next architectures (suggest.py). Katib probes the service with
gRPC health checks (grpc.health.v1, service manager.v1beta1.Suggestion).
"""

from __future__ import annotations

import sys
from concurrent import futures
from pathlib import Path
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from kubeflow.katib import katib_api_pb2 as api
from kubeflow.katib import katib_api_pb2_grpc as api_grpc

from nao_kfp.errors import NaoError
from nao_kfp.evaluators.base import Log
from nao_kfp.katib.experiment import KatibError, problems, read_experiment
from nao_kfp.katib.suggest import NotReady, propose, trial_results
from nao_kfp.spaces import get_space

PORT = 6789  # Katib's suggestion port (its Service and probes use it)
HEALTH_SERVICE = "manager.v1beta1.Suggestion"  # the service name Katib's probes check
LABEL_PREFIX = "nao-kfp/"  # labels on each trial: the round that proposed it, and how


class NaoSuggestion(api_grpc.SuggestionServicer):  # type: ignore[misc]
    def __init__(self, work_root: Path, log: Log | None = None):
        self.work_root = Path(work_root)
        self.log: Log = log or (lambda m: print(m, file=sys.stderr, flush=True))

    def ValidateAlgorithmSettings(self, request: Any, context: Any) -> Any:
        found = problems(request.experiment)
        if found:
            self.log(f"{request.experiment.name}: refused: {'; '.join(found)}")
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "; ".join(found))
        return api.ValidateAlgorithmSettingsReply()

    def GetSuggestions(self, request: Any, context: Any) -> Any:
        name, count = request.experiment.name, request.current_request_number
        try:
            exp = read_experiment(request.experiment)
            results = trial_results(exp, request.trials, self.log)
            got = propose(exp, results, count, self.work_root)
        except KatibError as e:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(e))
        except NotReady as e:
            self.log(f"{name}: {e}")
            code = grpc.StatusCode.OUT_OF_RANGE if e.over else grpc.StatusCode.UNAVAILABLE
            _abort(context, code, str(e))
        except NaoError as e:  # a round whose trials all failed, a table it cannot read
            self.log(f"{name}: {e}")
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION, str(e))
        space = get_space(exp.cfg.search.space)
        reply = api.GetSuggestionsReply()
        for pick in got.picks:
            p = reply.parameter_assignments.add()
            p.assignments.add(name=exp.parameter, value=space.to_string(pick.arch))
            p.labels[LABEL_PREFIX + "round"] = str(pick.round)
            p.labels[LABEL_PREFIX + "source"] = pick.source
        distinct = len({pick.id for pick in got.picks})
        repeats = (
            f" ({count - distinct} repeated: the round has no more)" if distinct < count else ""
        )
        self.log(f"{name}: round {got.round_index}: {count} suggested{repeats}")
        return reply


def _abort(context: Any, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("context.abort returns only by raising")


def serve(
    port: int = PORT, work_root: Path = Path("."), *, host: str = "0.0.0.0", workers: int = 10
) -> tuple[grpc.Server, int]:
    """Start the service (and its health checks) on host:port (0: any free port); the server
    and its port. The caller waits for it or stops it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    api_grpc.add_SuggestionServicer_to_server(NaoSuggestion(work_root), server)
    checks = health.HealthServicer()
    for service in ("", HEALTH_SERVICE):
        checks.set(service, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise NaoError(f"--port {port}: cannot listen on {host}:{port}")
    server.start()
    return server, bound
