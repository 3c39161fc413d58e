"""Child networks and their training: the ops table, CNN and RNN cells, data sets, training loops.

train_child(space, arch, cfg, out_dir, *, seed, on_checkpoint=None, log=None) -> dict
prepare_data(cfg, out_dir) -> Path
count_params(space, arch, *, layers, channels, dataset="cifar10") -> dict
build_network(space, arch, spec) -> nn.Module     (spec: NetSpec or RnnSpec; see net_spec)

Weight sharing (NAO-WS; config section `supernet`):
build_supernet(space, spec) -> nn.Module          net(x, arch) -> logits
train_supernet(space, cfg, archs, data, work_dir, *, epochs_to, seed, on_checkpoint=None, log=None) -> dict
score_archs(space, cfg, archs, data, work_dir, *, epoch=None, bn=None) -> list[float]
load_split(child_cfg) -> Split                    (the `data` of the two above)
load_data(cfg) -> Split | Corpus                  (enas-rnn: the corpus of the recurrent
                                                   supernet, child/rnn_supernet_train.py)
"""

from nao_kfp.child.cnn import CellNetwork, NetSpec
from nao_kfp.child.data import load_data, load_split, prepare_data
from nao_kfp.child.nb201net import Nb201Network
from nao_kfp.child.params import build_network, count_params, net_spec
from nao_kfp.child.rnn import RnnLM, RnnSpec
from nao_kfp.child.supernet import CellSupernet, Nb201Supernet, build_supernet
from nao_kfp.child.supernet_train import score_archs, train_supernet
from nao_kfp.child.train import train_child

__all__ = [
    "CellNetwork",
    "CellSupernet",
    "Nb201Network",
    "Nb201Supernet",
    "NetSpec",
    "RnnLM",
    "RnnSpec",
    "build_network",
    "build_supernet",
    "count_params",
    "load_data",
    "load_split",
    "net_spec",
    "prepare_data",
    "score_archs",
    "train_child",
    "train_supernet",
]
