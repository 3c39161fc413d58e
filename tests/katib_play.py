"""Katib's part, played over gRPC on 127.0.0.1: the suggestion server as a process, and a
controller that keeps trials running and asks it for new ones as they finish.

The controller does what Katib's experiment and suggestion controllers do with a suggestion
service (pkg/controller.v1beta1/experiment/experiment_controller.go, ReconcileTrials, and
suggestion/suggestionclient/suggestionclient.go, SyncAssignments): it wants
min(parallelTrialCount, maxTrialCount - completed) trials active, asks GetSuggestions for the
difference with every trial it has, creates a trial per assignment, and retries after an error.
Trials are answered by a table: a finished trial's observation is its row's valid accuracy as
a fraction, the value `nao train-child --katib` would print as dev_accuracy.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from kubeflow.katib import katib_api_pb2 as api
from kubeflow.katib import katib_api_pb2_grpc as api_grpc

from nao_kfp.spaces import get_space
from nao_kfp.tabular import Table

NAO = [sys.executable, "-m", "nao_kfp.cli"]
METRIC = "dev_accuracy"


class Server:
    """`nao katib serve --port 0` as a child process; `port` once it listens."""

    def __init__(self, work: Path, env: dict[str, str] | None = None):
        # its own process group: a fault's kill (faults.py) takes the server, not the test
        self.proc = subprocess.Popen(
            [*NAO, "katib", "serve", "--host", "127.0.0.1", "--port", "0", "--work", str(work)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the first line names the port
        assert " on port " in line, f"the server did not start: {line!r}"
        self.port = int(line.split(" on port ")[1].split()[0])
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        grpc.channel_ready_future(self.channel).result(timeout=60)
        self.stub = api_grpc.SuggestionStub(self.channel)

    def kill(self) -> None:
        """SIGKILL: nothing is flushed or cleaned up."""
        self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=30)


def experiment_doc(
    table_csv: Path,
    *,
    budget: int,
    seed: int,
    parallel: int = 3,
    name: str = "nao-test",
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Experiment a user writes for NAO on a table (the resource as YAML); `settings`:
    more algorithm settings."""
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "parameters": [
                {
                    "name": "arch",
                    "parameterType": "categorical",
                    "feasibleSpace": {"list": ["nb201"]},
                }
            ],
            "objective": {"type": "maximize", "objectiveMetricName": METRIC},
            "algorithm": {
                "algorithmName": "nao",
                "algorithmSettings": [
                    {"name": "evaluator.kind", "value": "table"},
                    {"name": "evaluator.table", "value": str(table_csv)},
                    {"name": "search.seed", "value": str(seed)},
                    *({"name": k, "value": v} for k, v in (settings or {}).items()),
                ],
            },
            "maxTrialCount": budget,
            "parallelTrialCount": parallel,
        },
    }


@dataclass
class Katib:
    """Katib's controllers for one Experiment (the api.v1beta1 message)."""

    experiment: Any
    table: Table
    seed: int = 0
    trials: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    calls: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # which running trial finishes next
        self.space = get_space("nb201")

    @property
    def archs(self) -> list[str]:
        """Every trial's architecture, in the order the trials were created."""
        return [t.spec.parameter_assignments.assignments[0].value for t in self.trials]

    def _running(self) -> list[Any]:
        return [t for t in self.trials if t.status.condition == api.TrialStatus.RUNNING]

    def step(self, stub: Any) -> None:
        """One reconcile: ask for the trials it lacks, or else let one running trial finish."""
        spec = self.experiment.spec
        completed = len(self.trials) - len(self._running())
        want = min(spec.parallel_trial_count, spec.max_trial_count - completed)
        add = want - len(self._running())
        if add > 0 and self.ask(stub, add):
            return
        running = self._running()
        assert running, f"no trial runs and the service proposes none: {self.errors[-1:]}"
        self._finish(self.rng.choice(running))

    def finish_running(self) -> None:
        for t in self._running():
            self._finish(t)

    def ask(self, stub: Any, count: int, timeout: float = 120) -> bool:
        """GetSuggestions for `count` trials (Katib's deadline is 60 s); False: not now."""
        request = api.GetSuggestionsRequest(
            experiment=self.experiment, trials=self.trials, current_request_number=count,
            total_request_number=len(self.trials) + count,
        )  # fmt: skip
        self.calls += 1
        try:
            reply = stub.GetSuggestions(request, timeout=timeout)
        except grpc.RpcError as e:
            # only the service's "round r waits for its trials" (a dead server is UNAVAILABLE too)
            if e.code() != grpc.StatusCode.UNAVAILABLE or not e.details().startswith("round "):
                raise
            self.errors.append(e.details())
            return False
        assert len(reply.parameter_assignments) == count  # Katib refuses any other number
        for a in reply.parameter_assignments:
            t = api.Trial(name=f"{self.experiment.name}-{len(self.trials):04d}")
            t.spec.parameter_assignments.assignments.extend(a.assignments)
            t.spec.labels.update(a.labels)
            t.status.condition = api.TrialStatus.RUNNING
            self.trials.append(t)
        return True

    def _finish(self, t: Any) -> None:
        row = self.table.get(self.space.parse(t.spec.parameter_assignments.assignments[0].value))
        assert row is not None
        t.status.condition = api.TrialStatus.SUCCEEDED
        t.status.observation.metrics.add(name=METRIC, value=repr(row.valid / 100.0))

    def done(self) -> bool:
        spec = self.experiment.spec
        return len(self.trials) >= spec.max_trial_count and not self._running()

    def run(self, stub: Any, *, until_trials: int | None = None, timeout: float = 600) -> None:
        end = time.monotonic() + timeout
        while not self.done() and (until_trials is None or len(self.trials) < until_trials):
            assert time.monotonic() < end, "the experiment did not finish"
            self.step(stub)
