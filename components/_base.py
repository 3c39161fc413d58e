"""What every component shares: the project image, tagged with the package version.

The image has the package (and kfp) installed, so no component pip-installs anything at pod
start. A config with another cluster.image gets the same components rebuilt on that image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kfp import dsl

from nao_kfp import __version__
from nao_kfp.config import ClusterConfig

IMAGE_REPO = ClusterConfig().image.rsplit(":", 1)[0]
IMAGE = f"{IMAGE_REPO}:{__version__}"


def component(func: Callable[..., Any], image: str = IMAGE) -> Any:
    return dsl.component(func, base_image=image, install_kfp_package=False)


def on_image(comp: Any, image: str) -> Any:
    """The component itself on the default image, else the same function on `image`."""
    return comp if image == IMAGE else component(comp.python_func, image)


def log_metrics(metrics: Any, values: dict[str, Any], prefix: str = "") -> None:
    """Every number of a step's output as a KFP Metrics entry (booleans and text are not)."""
    for key, value in sorted(values.items()):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics.log_metric(f"{prefix}{key}", value)


def skip_exit_gc() -> None:
    """End this task's process without the interpreter's last garbage collections: with torch
    loaded they walk every object (about a second per task on 2 cores, 3 tasks a round) only to
    free memory the OS takes back anyway. Runs at exit, after the outputs are written; the
    exit status is unchanged."""
    import atexit
    import gc

    atexit.register(gc.freeze)
