"""A Katib Experiment as the config NAO runs: every check ValidateAlgorithmSettings makes.

What an Experiment says, and where it goes:

    spec.parameters          one categorical parameter whose list names one of our spaces
                             (`arch`: [nb201]); each trial's value of it is an architecture of
                             that space in its string form
    spec.algorithm           algorithmName nao; its settings are config keys (search.seed,
                             controller.epochs, ...) applied with the loader's `--set` rules, and
                             `config`: the preset or YAML file they apply to (default: the
                             space's own preset, configs/<space>.yaml, when there is one)
    spec.objective           maximize the trial metric that is the search's score
                             (`nao train-child --katib` prints it as dev_accuracy)
    spec.maxTrialCount       the budget: search.max_evaluations, and the rounds that spend it
                             (loop.rounds_for_budget), as `nao benchmark --queries` sets them

Katib owns the budget and the space, so the settings may not name them; it runs trials until
maxTrialCount, so a search that stops early (search.early_stop) would leave it waiting; and a
trial trains one architecture, so the evaluators that score a whole round at once (supernet,
proxy) have no trial to run. Everything else is the config loader's to check, one line per bad
setting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubeflow.katib import katib_api_pb2 as api

from nao_kfp.config import PRESETS_DIR, Config, load_config
from nao_kfp.config.loader import parse_override, preset_path
from nao_kfp.config.search import MAX_ROUNDS, SearchConfig
from nao_kfp.errors import ConfigError, NaoError
from nao_kfp.evaluators import make_evaluator
from nao_kfp.kinds import KINDS, kind_of
from nao_kfp.loop import rounds_for_budget
from nao_kfp.spaces import SPACES

ALGORITHM = "nao"
CONFIG = "config"  # the setting that names the preset or YAML file
# config keys Katib decides: the setting may not name them
KATIB_OWNS = {
    "search.space": "spec.parameters names the space",
    "search.max_evaluations": "spec.maxTrialCount is the budget",
    "search.rounds": "spec.maxTrialCount sets the rounds that spend it",
}


class KatibError(NaoError):
    """An Experiment NAO cannot run: every problem, one line each."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class NaoExperiment:
    """What a Katib Experiment asks of NAO."""

    name: str
    cfg: Config  # search.max_evaluations and search.rounds set from spec.maxTrialCount
    parameter: str  # the parameter whose value is the architecture
    metric: str  # the objective metric: the search's score


def read_experiment(experiment: Any) -> NaoExperiment:
    """The config an Experiment (api.v1beta1 Experiment message) runs; KatibError lists
    every problem."""
    found = _read(experiment)
    if isinstance(found, NaoExperiment):
        return found
    raise KatibError(found)


def problems(experiment: Any) -> list[str]:
    """What ValidateAlgorithmSettings answers: one line per problem, none when NAO can run it."""
    found = _read(experiment)
    return [] if isinstance(found, NaoExperiment) else found


def _read(experiment: Any) -> NaoExperiment | list[str]:
    spec = experiment.spec
    out: list[str] = []
    space, parameter = _space(spec, out)
    metric = spec.objective.objective_metric_name
    if spec.objective.type != api.MAXIMIZE:
        out.append(
            "spec.objective.type: NAO maximizes the trial's score (dev_accuracy from "
            "`nao train-child --katib`), expected maximize"
        )
    if not metric:
        out.append(
            "spec.objective.objectiveMetricName: expected the trial's score, e.g. dev_accuracy"
        )
    budget = spec.max_trial_count
    if budget <= 0:
        out.append("spec.maxTrialCount: NAO needs the budget, a positive number of trials")
    settings = [(s.name, s.value) for s in spec.algorithm.algorithm_settings]
    preset, overrides = _settings(settings, space, out)
    if out or space is None:
        return out
    base = [f"search.space={space}", *overrides]
    try:
        cfg = load_config(preset, base)
    except ConfigError as e:  # settings that are fine alone but not together
        return [str(e)]
    out += [why for why in (_refused("evaluator.kind", cfg.evaluator.kind),
                            _refused("search.early_stop", cfg.search.early_stop)) if why]  # fmt: skip
    if out:
        return out
    cfg, why = _with_budget(cfg, preset, base, budget)
    if why:
        return [why]

    try:  # the evaluator's own checks (a table it cannot read, a budget it cannot count)
        make_evaluator(cfg)
    except NaoError as e:
        why = str(e)
        if kind_of(cfg).reads_table and not why.startswith(("evaluator.", "search.")):
            why = f"evaluator.table: {why}"  # the reader names the file, not the key
        return [why]
    return NaoExperiment(experiment.name, cfg, parameter, metric)


def _trial_kinds() -> str:
    names = [k.name for k in KINDS.values() if k.trial]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _refused(key: str, value: object) -> str | None:
    """Why Katib cannot run a search with this value of this key, if it cannot."""
    if key == "evaluator.kind" and value in KINDS and not KINDS[str(value)].trial:
        return (
            f"evaluator.kind: {value} scores a whole round in one task, but a Katib trial "
            f"trains one architecture (expected {_trial_kinds()})"
        )
    if key == "search.early_stop" and value is True:
        return (
            "search.early_stop: Katib runs trials until spec.maxTrialCount, so a search that "
            "stops early would leave it waiting (stop at a score with spec.objective.goal)"
        )
    return None


def _space(spec: Any, out: list[str]) -> tuple[str | None, str]:
    """The space the one categorical parameter names, and the parameter's name."""
    names = ", ".join(SPACES)
    if spec.HasField("nas_config") and (
        spec.nas_config.graph_config.num_layers or spec.nas_config.operations.operation
    ):
        out.append(
            f"spec.nasConfig: NAO searches its own spaces, named by one categorical "
            f"parameter ({names}), e.g. arch: [nb201], instead"
        )
        return None, ""
    params = list(spec.parameter_specs.parameters)
    if len(params) != 1:
        out.append(
            f"spec.parameters: expected one categorical parameter whose list names a search "
            f"space ({names}), e.g. arch: [nb201], got {len(params)} (NAO's other settings "
            f"are algorithm settings)"
        )
        return None, ""
    (p,) = params
    listed = list(p.feasible_space.list)
    if p.parameter_type != api.CATEGORICAL or len(listed) != 1 or listed[0] not in SPACES:
        out.append(
            f"spec.parameters[{p.name}]: expected a categorical parameter whose list is one "
            f"search space ({names}), got {listed or 'no list'}"
        )
        return None, p.name
    return listed[0], p.name


def _settings(
    settings: Sequence[tuple[str, str]], space: str | None, out: list[str]
) -> tuple[str | None, list[str]]:
    """The preset (the `config` setting, else the space's own) and the settings as `--set`
    overrides. Each is checked alone against the preset, and refused when the loader's error
    names its own key: one line per bad setting (an error about another key may be a setting
    that needs a second one, e.g. evaluator.kind table and evaluator.table; the settings
    together decide that)."""
    seen: set[str] = set()
    for name, _value in settings:
        if name in seen:
            out.append(f"{name}: set twice in spec.algorithm.algorithmSettings")
        seen.add(name)
    chosen = dict(settings)
    preset = chosen.pop(CONFIG, None)
    if preset is not None:
        try:
            preset_path(preset)
        except ConfigError as e:
            out.append(f"{CONFIG}: {str(e).split(': ', 1)[1]}")
            return None, []
    elif space is not None and (PRESETS_DIR / f"{space}.yaml").exists():
        preset = space
    overrides = []
    for name, value in chosen.items():
        if name in KATIB_OWNS:
            out.append(f"{name}: {KATIB_OWNS[name]} (remove the setting)")
            continue
        text = f"{name}={value}"
        try:
            parsed = parse_override(text)[1]
        except ConfigError:
            out.append(f"{name}: expected a config key such as search.seed")
            continue
        why = _refused(name, parsed)
        if why:
            out.append(why)
            continue
        try:
            load_config(preset, [f"search.space={space or SearchConfig.space}", text])
        except ConfigError as e:
            if str(e).startswith(f"{name}:"):
                out.append(str(e))
                continue
        overrides.append(text)
    return preset, overrides


def _with_budget(
    cfg: Config, preset: str | None, base: list[str], budget: int
) -> tuple[Config, str | None]:
    """search.max_evaluations = maxTrialCount and the rounds that spend it; or why not."""

    s = cfg.search
    if budget < s.initial_archs:
        return cfg, (
            f"spec.maxTrialCount: {budget} trials are fewer than search.initial_archs "
            f"({s.initial_archs}), the first round"
        )
    at_budget = cfg.replace(search=dataclasses.replace(s, max_evaluations=budget))
    rounds = rounds_for_budget(at_budget, budget)
    if rounds > MAX_ROUNDS:
        return cfg, (
            f"spec.maxTrialCount: {budget} trials take {rounds} rounds of search.new_archs "
            f"{s.new_archs}, more than {MAX_ROUNDS} (fewer trials, or more a round)"
        )
    sets = [*base, f"search.max_evaluations={budget}", f"search.rounds={rounds}"]
    return load_config(preset, sets), None


# ---------------------------------------------------------------- the Experiment resource


def experiment_message(doc: Mapping[str, Any]) -> Any:
    """An Experiment resource (the YAML `kubectl apply` takes) as the api.v1beta1 message
    Katib's controller sends the suggestion service (its ConvertExperiment, for the fields
    the service reads)."""
    spec = doc.get("spec") or {}
    objective = spec.get("objective") or {}
    algorithm = spec.get("algorithm") or {}
    msg = api.Experiment(name=(doc.get("metadata") or {}).get("name", ""))
    s = msg.spec
    for p in spec.get("parameters") or []:
        space = p.get("feasibleSpace") or {}
        s.parameter_specs.parameters.add(
            name=p.get("name", ""),
            parameter_type=api.ParameterType.Value(str(p.get("parameterType", "")).upper())
            if str(p.get("parameterType", "")).upper() in api.ParameterType.keys()
            else api.UNKNOWN_TYPE,
            feasible_space=api.FeasibleSpace(
                max=str(space.get("max", "")), min=str(space.get("min", "")),
                list=[str(v) for v in space.get("list") or []], step=str(space.get("step", "")),
            ),
        )  # fmt: skip
    s.objective.type = {"maximize": api.MAXIMIZE, "minimize": api.MINIMIZE}.get(
        str(objective.get("type", "")), api.UNKNOWN
    )
    s.objective.objective_metric_name = str(objective.get("objectiveMetricName", ""))
    s.objective.additional_metric_names.extend(objective.get("additionalMetricNames") or [])
    if objective.get("goal") is not None:
        s.objective.goal = float(objective["goal"])
    s.algorithm.algorithm_name = str(algorithm.get("algorithmName", ""))
    for setting in algorithm.get("algorithmSettings") or []:
        s.algorithm.algorithm_settings.add(
            name=str(setting.get("name", "")), value=str(setting.get("value", ""))
        )
    s.parallel_trial_count = int(spec.get("parallelTrialCount", 0) or 0)
    s.max_trial_count = int(spec.get("maxTrialCount", 0) or 0)
    nas = spec.get("nasConfig")
    if nas:
        s.nas_config.graph_config.num_layers = int(
            (nas.get("graphConfig") or {}).get("numLayers", 0)
        )
        for op in nas.get("operations") or []:
            s.nas_config.operations.operation.add(operation_type=str(op.get("operationType", "")))
    return msg
