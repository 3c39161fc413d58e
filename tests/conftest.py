"""Shared pytest fixtures. Other areas add theirs here too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3server import S3Server, start_s3_server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real SeaweedFS S3 server on 127.0.0.1 for the whole session (endpoint, keys, bucket)."""
    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Credentials in the environment (as on the cluster) and the config overrides that point
    `open_store` at the test server: `load_config("demo", [*s3_env, ...])`."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return [f"cluster.s3_endpoint={s3_server.endpoint}", f"cluster.s3_bucket={s3_server.bucket}"]
