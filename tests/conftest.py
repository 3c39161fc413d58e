"""Shared pytest fixtures. Other areas add theirs here too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from s3server import S3Server, start_s3_server

# Files that take minutes, run first: under pytest-xdist a file (or a README chain) started last
# would keep one worker busy while the others have nothing left to do.
LONG_FIRST = (
    "test_readme.py",
    "test_proxy.py",
    "test_prior.py",
    "test_one_loop.py",
    "test_local_rounds.py",
    "test_kill_resume.py",
)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test` runs the suite with pytest-xdist (--dist loadgroup): each test file is a
    group that runs on one worker, so its module fixtures (a trained child, a compiled model, a
    server) are made once; test_readme.py marks its independent chains of commands as groups of
    their own. Then LONG_FIRST's files first, everything else in its order."""
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(item.path.name))
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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
