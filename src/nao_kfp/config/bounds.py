"""The ceilings several sections share, and the checks across two keys every section uses: one
line naming the key and what was expected. (A key's own limits are declared beside it: keys.py.)"""

from __future__ import annotations

from nao_kfp.errors import ConfigError

# numpy's seed range; torch takes more, but a seed is also a numpy seed in the child runtime.
MAX_SEED = 2**32 - 1
# Training loops: an epoch count past this is a typo, not a schedule (a 1000-epoch supernet is
# the longest recipe we know).
MAX_EPOCHS = 100_000
EPOCHS_WHY = "each is a pass over the training data"
# Networks built to be scored by zero-cost proxies (7-20 ms each on a CPU): 10,000 is a few
# minutes; the nb201 preset scores 300.
MAX_PROXY_NETS = 10_000
PROXY_WHY = "each is a network build"
# Layer widths and depths: sizes of tensors the network allocates.
MAX_WIDTH = 4096
WIDTH_WHY = "each is a dimension of the network's weight matrices"
MAX_DEPTH = 64
DEPTH_WHY = "each is a layer the network builds"
MAX_BATCH = 65_536
BATCH_WHY = "a batch is held in memory at once"
# Images carved from a training set or drawn from it: more than any data set we read holds.
MAX_IMAGES = 100_000_000
IMAGES_WHY = "more than any training set holds"


def _lr_range(section: str, lr_min: float, lr_max: float) -> None:
    """A cosine schedule's ends: lr_min <= lr_max (each key's own sign is its own check)."""
    if lr_min > lr_max:
        raise ConfigError(
            f"{section}.lr_min: expected 0 <= lr_min <= lr_max, got {lr_min} and {lr_max}"
        )
