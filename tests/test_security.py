"""Security: credentials never reach an output, the cluster grants only what the components use,
the images run unprivileged from pinned bases, store keys cannot leave their prefix, and
checkpoints never unpickle code.

The credential tests plant recognizable values where a user puts them (the environment: configs
hold only the secret's *name*) and scan every byte that comes out: the compiled YAML, the
rendered manifests, a whole local search with the S3 store (run directory, task logs, every
object in the bucket, stdout and stderr) and the errors of a store that refuses or cannot be
reached."""

from __future__ import annotations

import os
import pickle
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from s3server import S3Server, start_s3_server
from search_tiny import tiny_config
from test_manifests import MANIFESTS, kustomizations, render

from nao_kfp.cli import main
from nao_kfp.store import S3Store, StoreError, check_key, checkpoint_key, open_store, result_key

ROOT = Path(__file__).resolve().parents[1]
PLANTED_ACCESS = "AKIA-PLANTED-7Q2XK9"
PLANTED_SECRET = "planted-secret-4f1b8e2d9c"
PLANTED = (PLANTED_ACCESS, PLANTED_SECRET)


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [p for p in PLANTED if p.encode() in data]


def leaking_files(root: Path) -> list[str]:
    """Every file under root holding a planted value (binary files included)."""
    return [
        f"{p.relative_to(root)}: {leaks(p.read_bytes())}"
        for p in sorted(root.rglob("*"))
        if p.is_file() and leaks(p.read_bytes())
    ]


@pytest.fixture
def planted_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_ACCESS_KEY", PLANTED_ACCESS)
    monkeypatch.setenv("S3_SECRET_KEY", PLANTED_SECRET)


@pytest.fixture(scope="module")
def planted_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS server whose one identity is the planted pair."""
    server = start_s3_server(
        tmp_path_factory.mktemp("planted-s3"), access_key=PLANTED_ACCESS, secret_key=PLANTED_SECRET
    )
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- credentials


def test_a_config_cannot_hold_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    for key in ("cluster.s3_access_key", "cluster.s3_secret_key", "cluster.S3_SECRET_KEY"):
        assert main(["config", "show", "--set", f"{key}={PLANTED_SECRET}"]) == 2
        err = capsys.readouterr().err
        assert "unknown key" in err and not leaks(err)


def test_the_compiled_pipeline_names_the_secret_and_holds_no_value(
    planted_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.yaml"
    args = ["--set", "cluster.s3_endpoint=minio.nao:9000", "--set", "final.enabled=true"]
    assert main(["compile", *args, "-o", str(out)]) == 0
    assert main(["config", "show", "--json", *args]) == 0
    text = out.read_text()
    assert not leaks(text) and not leaks(capsys.readouterr().out)
    # the train and final tasks read the credentials from the secret, by name, at run time
    platform = [d for d in yaml.safe_load_all(text) if d and "platforms" in d]
    executors = platform[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    by_secret = [
        e
        for e in executors.values()
        if any(s.get("secretName") == "nao-s3" for s in e.get("secretAsEnv", []))
    ]
    assert by_secret
    for e in by_secret:
        for s in e["secretAsEnv"]:
            assert {k["envVar"] for k in s["keyToEnv"]} == {"S3_ACCESS_KEY", "S3_SECRET_KEY"}


@pytest.mark.parametrize(
    "root", kustomizations(), ids=lambda r: r.relative_to(MANIFESTS).as_posix()
)
def test_rendered_manifests_hold_no_credential(planted_env: None, root: Path) -> None:
    text = yaml.safe_dump_all(render(root))
    assert not leaks(text)
    # nothing but the template placeholder where a value would go
    for doc in render(root):
        if doc["kind"] == "Secret":
            assert set(doc.get("stringData", {}).values()) == {"REPLACE_ME"}, doc["metadata"]


@pytest.mark.slow
def test_a_search_with_the_s3_store_leaves_no_credential_anywhere(
    planted_server: S3Server,
    planted_env: None,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    cfg = tiny_config(
        None,
        f"cluster.s3_endpoint={planted_server.endpoint}",
        f"cluster.s3_bucket={planted_server.bucket}",
    )
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    out = tmp_path / "run"
    assert main(["search", "--config", str(tmp_path / "tiny.yaml"), "--out", str(out)]) == 0
    std = capfd.readouterr()
    assert not leaks(std.out) and not leaks(std.err)
    for name in ("result.json", "pool.jsonl", "report.md", "report.html", "kfp.log", "config.json"):
        assert (out / name).is_file(), name
    assert len(list((out / "kfp").rglob("*"))) > 10  # every task's artifacts and logs
    assert leaking_files(out) == []
    store = open_store(cfg.cluster, tmp_path)
    keys = store.list()
    assert any(k.startswith("results/") for k in keys), keys  # the children did use S3
    assert any(k.startswith("checkpoints/") for k in keys), keys
    for key in keys:
        assert not leaks(store.get_bytes(key) or b""), key


def _refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_store_errors_carry_no_credential(planted_server: S3Server) -> None:
    attempts: list[tuple[str, str, str]] = [
        (f"127.0.0.1:{_refused_port()}", PLANTED_ACCESS, PLANTED_SECRET),  # nothing listens
        (planted_server.endpoint, PLANTED_ACCESS, "planted-wrong-secret-5e6f"),  # bad signature
        (planted_server.endpoint, "AKIA-PLANTED-UNKNOWN", PLANTED_SECRET),  # unknown key id
    ]
    for endpoint, access, secret in attempts:
        with pytest.raises(StoreError) as info:
            S3Store(endpoint, planted_server.bucket, access, secret).put_bytes(
                "results/x.json", b"{}"
            )
        message = str(info.value)
        assert message.count("\n") == 0 and "S3 store" in message, message
        for value in (access, secret):
            assert value not in message and value not in repr(info.value), message


@pytest.mark.slow
def test_a_search_whose_store_refuses_prints_no_credential(
    planted_env: None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cfg = tiny_config(None, f"cluster.s3_endpoint=127.0.0.1:{_refused_port()}", "search.rounds=1")
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    out = tmp_path / "run"
    assert main(["search", "--config", str(tmp_path / "tiny.yaml"), "--out", str(out)]) == 2
    std = capfd.readouterr()
    # the store's own error, in one line, found before the run folder is made
    assert re.fullmatch(
        r"nao: error: S3 store 127\.0\.0\.1:\d+: stat s3://\S+ failed: .*\n", std.err
    )
    assert not leaks(std.out) and not leaks(std.err)
    assert not out.exists()


def test_the_scan_finds_a_planted_value(tmp_path: Path) -> None:
    """Guard: the scans above would see a leak, in text or in a binary file."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.pt").write_bytes(b"\x80\x02" + PLANTED_SECRET.encode() + b"\x00")
    assert leaking_files(tmp_path) == [f"a/b/x.pt: {[PLANTED_SECRET]}"]


# ---------------------------------------------------------------- RBAC

# Every permission the manifests grant, with the component that uses it. Pods get the store
# credentials as env from the kubelet (secretKeyRef), which needs no RBAC; what remains is what
# KFP's launcher reads through the API with the run's service account.
ALLOWED_RULES = {
    ("", "configmaps", "kfp-launcher", "get"): "the KFP launcher reads its providers config",
    ("", "secrets", "nao-s3", "get"): "the KFP launcher reads the artifact store credentials "
    "named by the providers' secretRef",
}
RUNNER_ACCOUNTS = {"nao-runner", "pipeline-runner", "default-editor"}


def _rules(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    for rule in doc.get("rules", []):
        names = rule.get("resourceNames")
        assert names, f"{doc['metadata']['name']}: a rule without resourceNames grants a whole kind"
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for name in names:
                    for verb in rule.get("verbs", []):
                        yield group, resource, name, verb


@pytest.mark.parametrize(
    "root", kustomizations(), ids=lambda r: r.relative_to(MANIFESTS).as_posix()
)
def test_rbac_grants_only_what_the_components_use(root: Path) -> None:
    docs = render(root)
    kinds = {d["kind"] for d in docs}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, "no cluster-wide grants"
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Role"}
    assert roles
    granted = {rule for role in roles.values() for rule in _rules(role)}
    assert granted <= set(ALLOWED_RULES), granted - set(ALLOWED_RULES)
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] in roles
        assert {s["kind"] for s in binding["subjects"]} == {"ServiceAccount"}
        assert {s["name"] for s in binding["subjects"]} <= RUNNER_ACCOUNTS


def test_the_rbac_guard_catches_a_wildcard() -> None:
    wide = {
        "metadata": {"name": "wide"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}],
    }
    with pytest.raises(AssertionError, match="resourceNames"):
        list(_rules(wide))


# ---------------------------------------------------------------- images

PINNED_BASE = re.compile(
    r"^\S+(:\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})(\s+AS\s+\S+)?$", re.IGNORECASE
)


def _steps(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (w.upper(), rest.strip())
        for w, _, rest in (
            line.partition(" ") for line in lines if line and not line.startswith("#")
        )
    ]


@pytest.mark.parametrize(
    "dockerfile", sorted((ROOT / "images").glob("Dockerfile*")), ids=lambda p: p.name
)
def test_every_image_stage_is_pinned_and_the_last_runs_unprivileged(dockerfile: Path) -> None:
    steps = _steps(dockerfile)
    stages = [i for i, (kind, _a) in enumerate(steps) if kind == "FROM"]
    names = {a.split()[-1].lower() for kind, a in steps if kind == "FROM" and " as " in a.lower()}
    args = dict(a.split("=", 1) for kind, a in steps if kind == "ARG" and "=" in a)
    for i in stages:
        base = steps[i][1]
        if base.split()[0].lower() in names:
            continue  # a later stage built FROM an earlier one
        # a base chosen by build argument (images/build.sh's offline base) has its pinned
        # default in the file: that default is what a plain build uses
        for name, default in args.items():
            base = base.replace(f"${{{name}}}", default).replace(f"${name}", default)
        assert "$" not in base, f"{base}: a base chosen by ARG has no pinned default in the file"
        assert PINNED_BASE.match(base), f"{base}: expected a major.minor version tag or a digest"
        assert ":latest" not in base
    users = [a for kind, a in steps[stages[-1] :] if kind == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    user = args.get(user.strip("${}"), user) if user.startswith("$") else user
    assert user not in ("root", "0") and (not user.isdigit() or int(user) >= 1000), user


# ---------------------------------------------------------------- store keys

ESCAPES = ["../x", "a/../../x", "/etc/passwd", "", "a//b", "./a", "a/.", "results/.."]
ODD = ["a\\..\\..\\x", "a\x00b", "..\\x"]


@pytest.mark.parametrize("key", ESCAPES, ids=repr)
def test_a_key_cannot_leave_its_prefix(key: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        check_key(key)
    from nao_kfp.store import LocalStore

    store = LocalStore(tmp_path / "root")
    with pytest.raises(StoreError):
        store.put_bytes(key, b"x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "root").exists()


@pytest.mark.parametrize("part", ["..", ".", "", "a/b", "../x", "/abs"], ids=repr)
def test_key_parts_from_names_and_ids_cannot_add_a_level(part: str) -> None:
    for build in (
        lambda: result_key(part, "id", "digest"),
        lambda: result_key("enas", part, "digest"),
        lambda: checkpoint_key("enas", "id", part),
    ):
        with pytest.raises(StoreError):
            build()


@pytest.mark.parametrize("key", ODD, ids=repr)
def test_backslashes_and_nul_are_not_key_characters(key: str) -> None:
    with pytest.raises(StoreError):
        check_key(key)
    with pytest.raises(StoreError):
        result_key("enas", key, "digest")


def test_every_stored_key_stays_under_the_store_root(tmp_path: Path) -> None:
    from nao_kfp.store import LocalStore

    store = LocalStore(tmp_path / "root")
    store.put_bytes(result_key("enas", "abc123", "d41d8cd9"), b"{}")
    store.put_bytes(checkpoint_key("enas", "abc123", "d41d8cd9"), b"ck")
    files = [p.resolve() for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(p.is_relative_to((tmp_path / "root").resolve()) for p in files)


# ---------------------------------------------------------------- checkpoints

LOADERS = (ROOT / "src", ROOT / "components", ROOT / "pipelines")


def test_every_torch_load_refuses_pickled_code() -> None:
    calls = []
    for folder in LOADERS:
        for path in folder.rglob("*.py"):
            text = path.read_text()
            for m in re.finditer(r"torch\.load\(", text):
                depth, end = 1, m.end()
                while depth:  # the call's arguments, nested parentheses included
                    depth += {"(": 1, ")": -1}.get(text[end], 0)
                    end += 1
                calls.append(
                    (
                        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}",
                        text[m.end() : end],
                    )
                )
    assert calls, "no torch.load found: the scan is broken"
    unsafe = [where for where, args in calls if "weights_only=True" not in args]
    assert unsafe == []
    assert not any(
        re.search(r"\bpickle\.loads?\(|\bdill\.|\bjoblib\.load\(", p.read_text())
        for f in LOADERS
        for p in f.rglob("*.py")
    )


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_a_checkpoint_with_a_pickle_payload_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from nao_kfp.child import runtime

    marker = tmp_path / "payload-ran"
    evil = tmp_path / "checkpoint.pt"
    torch.save({"arch": [], "model": _Payload(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError):
        runtime.load_checkpoint(evil, [])
    assert main(["export", "--checkpoint", str(evil), "--out", str(tmp_path / "model")]) == 2
    assert "not a torch checkpoint (UnpicklingError)" in capsys.readouterr().err
    controller_dir = tmp_path / "ctrl"
    controller_dir.mkdir()
    torch.save({"format": _Payload(marker)}, controller_dir / "model.pt")
    assert (
        main(
            [
                "controller",
                "propose",
                "--model",
                str(controller_dir),
                "--pool",
                str(evil),
                "--out",
                str(tmp_path / "n.jsonl"),
            ]
        )
        == 2
    )
    assert "not a controller checkpoint (UnpicklingError)" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "model").exists()
    # the guard: loading without weights_only does run the payload
    torch.load(evil, weights_only=False)
    assert marker.exists()
    os.unlink(marker)


def test_redaction_masks_whole_values_not_parts_of_words() -> None:
    from nao_kfp.store.s3 import _Redactor

    redact = _Redactor("Retr", "x", "AKIA-PLANTED-1234")
    assert redact.scrub("MaxRetryError (x) Credential=AKIA-PLANTED-1234/2024") == (
        "MaxRetryError (***) Credential=***/2024"
    )
    assert "Retr" not in repr(redact) and "AKIA" not in repr(redact)
