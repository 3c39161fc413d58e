"""Shared pytest fixtures. Other areas add theirs here too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """LONG_FIRST's files first, everything else in its order."""
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test` runs the suite with pytest-xdist (-n auto --dist loadfile): each test file
    runs on one worker, so its module fixtures (a trained child, a compiled model, a server) are
    made once, and test_readme.py's chains of commands that read nothing of each other are
    files of their own. Files start in the order collected (LONG_FIRST first), not by count."""
    if config.getvalue("dist") != "loadfile":
        return None
    from test_readme import chain_of
    from xdist.scheduler import LoadScopeScheduling

    class FilesAndReadmeChains(LoadScopeScheduling):  # type: ignore[misc]
        def __init__(self, config: pytest.Config, log: Any = None) -> None:
            super().__init__(config, log)
            config.option.loadscopereorder = False

        def _split_scope(self, nodeid: str) -> str:
            return chain_of(nodeid) or nodeid.split("::", 1)[0]

    return FilesAndReadmeChains(config, log)


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
