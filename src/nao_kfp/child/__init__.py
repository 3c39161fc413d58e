"""Child networks and their training: the ops table, CNN and RNN cells, data sets, training loops.

train_child(space, arch, cfg, out_dir, *, seed, on_checkpoint=None, log=None) -> dict
prepare_data(cfg, out_dir) -> Path
count_params(space, arch, *, layers, channels, dataset="cifar10") -> dict
build_network(space, arch, spec) -> nn.Module     (spec: NetSpec or RnnSpec; see net_spec)
"""

from nao_kfp.child.cnn import CellNetwork, NetSpec
from nao_kfp.child.data import prepare_data
from nao_kfp.child.params import build_network, count_params, net_spec
from nao_kfp.child.rnn import RnnLM, RnnSpec
from nao_kfp.child.train import train_child

__all__ = [
    "CellNetwork",
    "NetSpec",
    "RnnLM",
    "RnnSpec",
    "build_network",
    "count_params",
    "net_spec",
    "prepare_data",
    "train_child",
]
