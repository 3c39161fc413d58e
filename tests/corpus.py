"""Building blocks of the bad-input corpus (tests/test_bad_inputs.py): valid architectures to
break one part of, and one builder per kind of input. A Case is an argv, the files it needs and
the one line it must print; `{tmp}` in any of them is the case's own folder."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import random
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nao_kfp.spaces import get_space

NAONET_A = "0 7 1 15 2 8 1 7 0 6 1 7 0 8 4 7 1 5 0 7 0 7 1 13 0 6 0 14 0 9 1 10 0 14 2 6 1 11 0 7"
NAONET_B = "0 1 0 2 0 1 2 2 1 3 0 2 4 0 1 3 2 1 0 3 1 1 1 0 2 1 2 4 1 0 2 3 3 1 2 2 0 2 0 2"
NB201 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# A valid enas cell and an architecture built from it; malformed cases change one part.
CELL = (
    "identity~0 avg_pool_3x3~0 | max_pool_3x3~2 identity~2 | identity~0 max_pool_3x3~0 | "
    "identity~2 sep_conv_5x5~1 | max_pool_3x3~5 identity~4"
)
ENAS = f"normal[{CELL}] reduce[{CELL}]"
RNN = "relu | 1 identity | 2 tanh | 3 tanh | 4 identity | 5 relu | 2 sigmoid | 5 sigmoid | 7 relu | 4 relu | 9 sigmoid | 1 tanh"
ENAS_OPS = "sep_conv_3x3, sep_conv_5x5, avg_pool_3x3, max_pool_3x3, identity"
NB201_OPS = "none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"

# Six distinct nb201 cells (a fixed draw) for tables and pools.
NB201_CELLS = [
    get_space("nb201").to_string(a) for a in get_space("nb201").sample_unique(6, random.Random(0))
]


# Case.files values that make something other than a regular file (materialize)
FIFO = "\0fifo"
LINK_TO_DEV_NULL = "\0link:/dev/null"  # a device behind a link: replacing it would replace the link
DANGLING_LINK = "\0link:{tmp}/nowhere/x"


def torch_file(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def child_checkpoint(**changes: Any) -> dict[str, Any]:
    """What train_child writes into checkpoint.pt (no training state) for a tiny enas child of
    8×8 one-channel images in two classes; `changes` replace keys (None: drop the key)."""
    from nao_kfp.child.cnn import NetSpec
    from nao_kfp.child.params import build_network

    space = get_space("enas")
    arch = space.parse(ENAS)
    spec = NetSpec(layers=1, channels=4, classes=2, in_channels=1, input_size=8)
    state = {
        "arch": space.to_json(arch), "space": "enas", "spec": dataclasses.asdict(spec),
        "normalize": {"mean": [0.5], "std": [0.25]}, "class_names": ["a", "b"],
        "dataset": "digits", "model": build_network(space, arch, spec).state_dict(), "epoch": 1,
    }  # fmt: skip
    state.update(changes)
    return {k: v for k, v in state.items() if v is not None}


def controller_checkpoint(**changes: Any) -> dict[str, Any]:
    """What `nao controller fit` writes into model.pt for a tiny nb201 controller."""
    from nao_kfp.config import ControllerConfig
    from nao_kfp.controller import NAOModel

    cfg = ControllerConfig(embedding_size=4, hidden_size=8, mlp_hidden=8)
    model = NAOModel(get_space("nb201"), cfg)
    state = {**model.describe(), "state_dict": model.net.state_dict(), **changes}
    return {k: v for k, v in state.items() if v is not None}


def exported_record() -> dict[str, Any]:
    """What `nao export` writes into model.pt for child_checkpoint()."""
    from nao_kfp.export import model_record

    return dict(model_record(child_checkpoint()))


@dataclass(frozen=True)
class Case:
    kind: str  # config, set, arch, pool, table, data, output, cli
    argv: tuple[str, ...]
    message: str  # what follows "<prog>: error: "
    # files to create first; a name ending in "/" is a folder, bytes are written as they are
    files: dict[str, str | bytes] = field(default_factory=dict)
    stdin: str | None = None
    prog: str = "nao"  # argparse names the subcommand: "nao compile: error: ..."
    exact: bool = True  # False: the line starts with the message (argparse lists choices)


def arch(space: str, text: str, message: str, *extra: str) -> Case:
    return Case("arch", ("arch", "show", "--space", space, *extra, text), message)


def conf(message: str, *sets: str, yaml_text: str | bytes | None = None) -> Case:
    """`nao config show` of a YAML file (kind config) or of --set overrides (kind set)."""
    argv: tuple[str, ...] = ("config", "show")
    files: dict[str, str | bytes] = {}
    if yaml_text is not None:
        files["c.yaml"] = yaml_text
        argv += ("--config", "{tmp}/c.yaml")
    for s in sets:
        argv += ("--set", s)
    return Case("config" if yaml_text is not None else "set", argv, message, files)


def pool_line(line: str, message: str) -> Case:
    """A pool file whose second line is `line` (the first is a valid nb201 entry)."""
    first = json.dumps({"arch": NB201, "space": "nb201", "accuracy": 0.5})
    return Case(
        "pool",
        ("pool", "check", "{tmp}/pool.jsonl"),
        "{tmp}/pool.jsonl:2: " + message,
        {"pool.jsonl": first + "\n" + line + "\n"},
    )


def table_rows(n: int = 6, header: str = "arch,valid,test") -> str:
    """A valid percent table of the first n cells."""
    rows = [f"{c},{80 + i}.5,{79 + i}.5" for i, c in enumerate(NB201_CELLS[:n])]
    return "\n".join([header, *rows]) + "\n"


BENCH = ("benchmark", "--space", "nb201", "--table", "{tmp}/t.csv", "--queries", "4")
BENCH_TAIL = ("--seeds", "0", "--strategy", "random", "--quiet")


def table(text: str | bytes, message: str) -> Case:
    """`nao benchmark` reading the table `text`."""
    return Case("table", (*BENCH, *BENCH_TAIL), message, {"t.csv": text})


def bench(message: str, *args: str, kind: str = "cli", prog: str = "nao", folder: str = "") -> Case:
    """`nao benchmark` on a valid table with `args` after the defaults (argparse: last wins);
    `folder` is created first."""
    files: dict[str, str | bytes] = {"t.csv": table_rows()}
    if folder:
        files[folder + "/"] = ""
    return Case(kind, (*BENCH, *BENCH_TAIL, *args), message, files, prog=prog)


TRAIN_CHILD = ("train-child", "--space", "enas", "--arch", ENAS, "--out", "{tmp}/child")


def materialize(case: Case, tmp: Path) -> tuple[list[str], str]:
    """Create the case's files under tmp; its argv and its whole expected line."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name, content in case.files.items():
        path = tmp / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == FIFO:
            os.mkfifo(path)
        elif isinstance(content, str) and content.startswith("\0link:"):
            path.symlink_to(content.removeprefix("\0link:").replace("{tmp}", str(tmp)))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
    return argv, f"{case.prog}: error: " + case.message.replace("{tmp}", str(tmp))


def tree(root: Path) -> dict[str, str]:
    """Every file, folder, link and FIFO under root, relative, with what it is (a regular
    file's SHA-256, a link's target): what a case left behind, changed or replaced shows here."""
    out = {}
    for p in root.rglob("*"):
        mode = p.lstat().st_mode
        if stat.S_ISREG(mode):
            what = "file " + hashlib.sha256(p.read_bytes()).hexdigest()
        elif stat.S_ISLNK(mode):
            what = "link " + os.readlink(p)
        else:
            what = "folder" if stat.S_ISDIR(mode) else "fifo" if stat.S_ISFIFO(mode) else "other"
        out[p.relative_to(root).as_posix()] = what
    return out
