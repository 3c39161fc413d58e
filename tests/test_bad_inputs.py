"""The bad-input corpus: every case exits 2 with one line naming the file, key, flag or line and
what was expected, prints no traceback and nothing on stdout, and leaves nothing behind (no
empty --out folder, no run directory, no temp file). Each runs in-process and as a real
`python -m nao_kfp.cli` process (forked from one interpreter: see cli_batch)."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import stat
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import torch
from cli_batch import Result, run_batch
from corpus import (
    BENCH,
    BENCH_TAIL,
    CELL,
    DANGLING_LINK,
    ENAS,
    ENAS_OPS,
    FIFO,
    LINK_TO_DEV_NULL,
    NAONET_A,
    NAONET_B,
    NB201,
    NB201_CELLS,
    NB201_OPS,
    RNN,
    TRAIN_CHILD,
    Case,
    arch,
    bench,
    child_checkpoint,
    conf,
    controller_checkpoint,
    exported_record,
    materialize,
    pool_line,
    table,
    table_rows,
    torch_file,
    tree,
)

from nao_kfp.cli import main
from nao_kfp.config import MAX_SEED, TRAIN_IMAGES, Config, preset_path, read_yaml
from nao_kfp.spaces import get_space


def _cannot_create_in(folder: str) -> str:
    """Why this user cannot create a file in folder (root and others differ on /proc)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError as e:
        return str(e.strerror)
    os.close(fd)
    os.unlink(probe)
    raise AssertionError(f"{folder} is writable here")


EVALUATED = "".join(
    json.dumps({"arch": c, "space": "nb201", "accuracy": 0.5 + i / 100}) + "\n"
    for i, c in enumerate(NB201_CELLS)
)
PENDING = "".join(json.dumps({"arch": c, "space": "nb201"}) + "\n" for c in NB201_CELLS)


# what `nao export` writes into model.pt: enough for `nao serve` to reach model.pt2
EXPORTED_RECORD = torch_file(exported_record())


CASES: list[Case] = []
_add = CASES.append
# ---------------------------------------------------------------- cell spaces, native form
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 avg", "identity~2 avg", 1),
        "normal cell node 0 branch 1: input 2 is out of range; expected 0..1 (0-1 the cell inputs, j+2 an earlier node j)",
    )
)
_add(
    arch(
        "enas",
        f"normal[{CELL}] reduce[{CELL.replace('identity~2 | ', 'conv_3x3~2 | ', 1)}]",
        f"reduce cell node 1 branch 2: unknown op 'conv_3x3'; expected one of {ENAS_OPS}",
    )
)
_add(
    arch(
        "enas",
        f"normal[{CELL.rsplit(' | ', 1)[0]}] reduce[{CELL}]",
        "normal cell: expected 5 nodes separated by '|', got 4",
    )
)
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 max_pool_3x3~0", "identity~0 max_pool_3x3~0 identity~1", 1),
        "normal cell node 2: expected two branches 'op~input op~input', got 'identity~0 max_pool_3x3~0 identity~1'",
    )
)
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 avg", "identity avg", 1),
        "normal cell node 0 branch 1: expected op~input, got 'identity'",
    )
)
_add(
    arch(
        "enas",
        ENAS.replace("identity~0 avg", "identity~x avg", 1),
        "normal cell node 0 branch 1 input: expected an integer, got 'x'",
    )
)
_add(arch("enas", f"normal[{CELL}]", "enas: missing reduce[...] cell"))
_add(arch("enas", f"normal[{CELL}] normal[{CELL}]", "enas: normal cell given twice"))
_add(arch("enas", "resnet50", "enas: expected normal[...] at 'resnet50'"))
_add(
    arch(
        "nasnet",
        ENAS,
        "normal cell node 3 branch 2: unknown op 'sep_conv_5x5'; expected one of identity, conv_1x1, conv_3x3, conv_1x3_3x1, conv_1x7_7x1, max_pool_2x2, max_pool_3x3, max_pool_5x5, avg_pool_2x2, avg_pool_3x3, avg_pool_5x5",
    )
)
# ---------------------------------------------------------------- official integer form
_add(
    arch(
        "nasnet",
        NAONET_A.rsplit(" ", 1)[0],
        "nasnet official sequence: expected 40 integers, got 39",
        "--format",
        "official",
    )
)
_add(
    arch(
        "nasnet",
        "0 3 " + NAONET_A[4:],
        "position 1 (normal cell node 0 op 1): op id 3 is not a nasnet op; expected 5..15",
        "--format",
        "official",
    )
)
_add(
    arch(
        "enas",
        "3" + NAONET_B[1:],
        "position 0 (normal cell node 0 input 1): input 3 is out of range; expected 0..1",
        "--format",
        "official",
    )
)
_add(
    arch(
        "enas",
        NAONET_B.replace("2", "a", 1),
        "enas official sequence item 3: expected an integer, got 'a'",
        "--format",
        "official",
    )
)
_add(
    arch(
        "nb201",
        NB201,
        "--format official: the nb201 space has no official NAO form; expected nasnet or enas",
        "--format",
        "official",
    )
)
_add(
    Case(
        "arch",
        ("arch", "convert", "--space", "enas-rnn", "--from", "native", "--to", "official", RNN),
        "--to official: the enas-rnn space has no official NAO form; expected nasnet or enas",
    )
)
# ---------------------------------------------------------------- enas-rnn
_add(
    arch(
        "enas-rnn", RNN.rsplit(" | ", 1)[0], "enas-rnn: expected 12 nodes separated by '|', got 11"
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("2 tanh", "3 tanh", 1),
        "enas-rnn node 3: predecessor 3 is out of range; expected 1..2",
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("relu", "gelu", 1),
        "enas-rnn node 1: unknown activation 'gelu'; expected one of tanh, relu, identity, sigmoid",
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("1 identity", "identity", 1),
        "enas-rnn node 2: expected 'predecessor activation', got 'identity'",
    )
)
_add(
    arch(
        "enas-rnn",
        RNN.replace("1 identity", "one identity", 1),
        "enas-rnn node 2 predecessor: expected an integer, got 'one'",
    )
)
# ---------------------------------------------------------------- nb201
_add(
    arch(
        "nb201",
        "|none~0|+|none~0|none~1|",
        "nb201: expected 3 node groups joined by '+', got 2 in '|none~0|+|none~0|none~1|'",
    )
)
_add(arch("nb201", NB201.replace("~0", "~1", 1), "nb201 edge 0->1: expected input 0, got '1'"))
_add(
    arch(
        "nb201",
        NB201.replace("avg_pool_3x3", "conv_3x3"),
        f"nb201 edge 1->2: unknown op 'conv_3x3'; expected one of {NB201_OPS}",
    )
)
_add(
    arch(
        "nb201",
        "|none~0|+|none~0|+|none~0|none~1|none~2|",
        "nb201 node 2: expected 2 edge(s), got 1 in '|none~0|'",
    )
)
# ---------------------------------------------------------------- configs
_add(
    conf(
        "controller.hiden_size: unknown key (did you mean hidden_size?)", "controller.hiden_size=64"
    )
)
_add(conf("search.rounds: expected an integer, got 'three'", "search.rounds=three"))
_add(conf("search.rounds: expected at least 1, got -1", "search.rounds=-1"))
_add(conf("search.rounds: expected at least 1, got 0", "search.rounds=0"))
# the pipeline unrolls rounds and shards at compile time: an absurd count is an error, not a hang
_add(
    conf(
        "search.rounds: expected at most 200 (the pipeline unrolls its rounds at compile time), "
        "got 99999999999999999999",
        "search.rounds=99999999999999999999",
    )
)
_add(
    conf(
        "search.shards: expected at most 1000 (the pipeline unrolls its shards at compile time), "
        "got 1001",
        "search.shards=1001",
    )
)
_add(
    Case(
        "set",
        ("config", "show", "--config", "nao-ws-nb201", "--set", "supernet.epochs=99999999999999999999",
         "--set", "supernet.rounds_every=1"),
        "supernet.epochs: expected at most 100000 (each is a pass over the training data), got "
        "99999999999999999999",
    )
)  # fmt: skip
_add(conf("search.eta: expected a finite number, got nan", "search.eta=.nan"))
_add(conf("child.lr_max: expected a finite number, got inf", "child.lr_max=.inf"))
_add(
    conf(
        "evaluator.kind: expected one of train, table, synthetic, supernet, proxy, got 'lookup'",
        "evaluator.kind=lookup",
    )
)
_add(
    conf("evaluator.table: required for evaluator.kind table (a CSV file)", "evaluator.kind=table")
)
_add(conf("search.fill: expected one of random, none, got 'zeros'", "search.fill=zeros"))
_add(
    conf(
        "search.top_k: 50 seeds but only 16 initial architectures (search.initial_archs)",
        "search.initial_archs=16",
        "search.top_k=50",
    )
)
_add(
    conf(
        "search.space: expected one of nasnet, enas, enas-rnn, nb201, got 'darts'",
        "search.space=darts",
    )
)
_add(
    conf(
        "child.dataset: 'ptb' does not fit search.space 'enas' (ptb goes with enas-rnn only)",
        "search.space=enas",
        "child.dataset=ptb",
    )
)
_add(conf("controller.trade_off: expected at most 1.0, got 1.5", "controller.trade_off=1.5"))
_add(conf("cluster.image: 'nao:latest' uses :latest; pin a version", "cluster.image=nao:latest"))
_add(conf("child.amp: expected true/false, got 'maybe'", "child.amp=maybe"))
_add(conf("search.eta_max: 1.0 is below search.eta 10.0", "search.eta=10", "search.eta_max=1"))
_add(
    conf(
        f"child.dev_size: 1700 dev + 200 train images do not fit in digits's {TRAIN_IMAGES['digits']} training images",
        "child.dev_size=1700",
        "child.train_subset=200",
    )
)
_add(conf("--set search.rounds: expected KEY=VALUE, e.g. search.rounds=3", "search.rounds"))
_add(conf("search: expected a mapping of keys, got int", yaml_text="search: 3\n"))
_add(conf("controler: unknown key (did you mean controller?)", yaml_text="controler:\n  lr: 0.1\n"))
_add(
    conf(
        "cluster.tolerations[0].foo: unknown key (expected key, operator, value, effect)",
        "cluster.tolerations=[{key: gpu, foo: bar}]",
    )
)
_add(conf("cluster.node_selector: expected a mapping, got ['a']", "cluster.node_selector=[a]"))
_add(
    conf(
        "cluster.cpu_request: expected a CPU quantity such as 4, 0.5 or 500m, got 'four'",
        "cluster.cpu_request=four",
    )
)
_add(conf("{tmp}/c.yaml: expected a mapping at the top level", yaml_text="- search\n"))
# ---------------------------------------------------------------- pool lines
_add(
    pool_line(
        "{not json",
        "not valid JSON (Expecting property name enclosed in double quotes at column 2)",
    )
)
_add(pool_line(json.dumps({"space": "nb201", "accuracy": 0.5}), "missing key 'arch'"))
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "darts"}),
        "space: unknown space 'darts'; expected one of nasnet, enas, enas-rnn, nb201",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201.replace("~1", "~0", 1), "space": "nb201"}),
        "arch: nb201 edge 1->2: expected input 1, got '0'",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "nb201", "accuracy": "0.9"}),
        "accuracy: expected a number, got '0.9'",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "nb201", "status": "ok"}),
        "accuracy: status ok needs a number",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "nb201", "status": "done"}),
        "status: expected 'ok', 'failed' or 'pending', got 'done'",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "nb201", "id": "abc"}),
        f"id: 'abc' does not match the architecture (expected {get_space('nb201').canonical_id(get_space('nb201').parse(NB201))})",
    )
)
_add(pool_line(json.dumps([NB201, "nb201"]), "expected a JSON object, got list"))
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "nb201", "accuracy": 0.5, "status": "failed"}),
        "accuracy: status failed needs null, got 0.5",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "nb201", "accuracy": math.nan}),
        "accuracy: nan is not allowed; use null with status failed",
    )
)
_add(pool_line(json.dumps({"arch": 3, "space": "nb201"}), "arch: expected a string, got 3"))
# ---------------------------------------------------------------- more architectures
_add(arch("nb201", "", "nb201: expected 3 node groups joined by '+', got 1 in ''"))
_add(arch("enas", "normal[] reduce[]", "normal cell: expected 5 nodes separated by '|', got 1"))
_add(
    Case(
        "arch",
        ("arch", "convert", "--space", "enas", "--from", "official", "--to", "native", "1 2"),
        "enas official sequence: expected 40 integers, got 2",
    )
)
_add(
    Case(
        "arch",
        ("params", "--space", "nb201", "--arch", NB201, "--layers", "2", "--channels", "8"),
        "--space: nb201 has no CNN child to count; expected nasnet or enas",
    )
)
_add(
    Case(
        "arch",
        ("params", "--space", "enas", "--arch", ENAS, "--layers", "0", "--channels", "8"),
        "--layers/--channels: expected at least 1 layer and 2 channels",
    )
)
_add(
    Case(
        "arch",
        ("arch", "sample", "--space", "nb201", "--count", "0"),
        "--count: expected 1..15625 for the nb201 space, got 0",
    )
)
_add(
    Case(
        "arch",
        ("arch", "show", "--space", "nb201", "-"),
        "ARCH: stdin is empty; expected one architecture per line",
        stdin="\n\n",
    )
)
# ---------------------------------------------------------------- config files
_add(
    conf(
        "{tmp}/c.yaml: empty; expected a mapping of config keys (search:, child:, ...)",
        yaml_text="",
    )
)
_add(
    conf(
        "{tmp}/c.yaml: empty; expected a mapping of config keys (search:, child:, ...)",
        yaml_text="# only a comment\n",
    )
)
_add(conf("{tmp}/c.yaml: expected a mapping at the top level", yaml_text="3\n"))
_add(
    Case(
        "config",
        ("config", "show", "--config", "{tmp}/none.yaml"),
        "--config {tmp}/none.yaml: no such file",
    )
)
_add(
    Case(
        "config",
        ("config", "show", "--config", "{tmp}/cfg.yaml"),
        "--config {tmp}/cfg.yaml: is a folder; expected a YAML file",
        {"cfg.yaml/": ""},
    )
)
_add(
    Case(
        "config",
        ("config", "show", "--config", "{tmp}/conf"),
        "--config {tmp}/conf: is a folder; expected a preset name or a YAML file",
        {"conf/": ""},
    )
)
_add(
    conf(
        "{tmp}/c.yaml:2: not valid YAML (expected ',' or ']', but got '<stream end>')",
        yaml_text="search: [1, 2\n",
    )
)
_add(
    conf(
        "{tmp}/c.yaml:2: not valid YAML (found character '\\t' that cannot start any token)",
        yaml_text="search:\n\trounds: 2\n",
    )
)
_add(
    conf(
        "{tmp}/c.yaml:4: rounds: given twice (first on line 2)",
        yaml_text="search:\n  rounds: 2\n  eta: 1.0\n  rounds: 3\n",
    )
)
_add(
    conf(
        "{tmp}/c.yaml:3: search: given twice (first on line 1)",
        yaml_text="search:\n  rounds: 2\nsearch:\n  eta: 1.0\n",
    )
)
_add(conf("{tmp}/c.yaml: not UTF-8 text", yaml_text=b"search:\n  rounds: \xff\n"))
_add(conf("search.eta: expected a finite number, got nan", yaml_text="search:\n  eta: .nan\n"))
_add(conf("child.lr_max: expected a finite number, got inf", yaml_text="child:\n  lr_max: .inf\n"))
_add(conf("search.rounds: expected at least 1, got 0", yaml_text="search:\n  rounds: 0\n"))
_add(conf("search.rounds: expected an integer, got None", yaml_text="search:\n  rounds:\n"))
_add(conf("search.rounds: expected an integer, got True", yaml_text="search:\n  rounds: yes\n"))
_add(
    conf(
        "search.space: expected one of nasnet, enas, enas-rnn, nb201, got 'nb-201'",
        yaml_text="search:\n  space: nb-201\n",
    )
)
_add(
    conf(
        "final.enabled: the final training builds image networks (nasnet, enas, nb201), not search.space 'enas-rnn'",
        yaml_text="search:\n  space: enas-rnn\nchild:\n  dataset: ptb\n  data_dir: ptb\nfinal:\n  enabled: true\n",
    )
)
_add(
    conf(
        "name: expected letters, digits, spaces, '.', '_' or '-' starting with a letter or digit "
        "(it names the run folder), got '../../etc'",
        yaml_text="name: ../../etc\n",
    )
)
_add(
    conf(
        "child.data_dir: required for child.dataset 'image-folder'",
        yaml_text="child:\n  dataset: image-folder\n",
    )
)
_add(conf("child: expected a mapping of keys, got list", yaml_text="child: [1]\n"))
# ---------------------------------------------------------------- --set
_add(conf("search: expected a mapping of keys, got int", "search=3"))
_add(conf("child.lr_max: expected a finite number, got nan", "child.lr_max=.nan"))
_add(conf("--set =3: expected a dotted key before '=', e.g. search.rounds=3", "=3"))
_add(
    conf(
        "--set search..rounds=3: expected a dotted key before '=', e.g. search.rounds=3",
        "search..rounds=3",
    )
)
_add(conf("--set search.rounds.x=3: rounds is not a section", "search.rounds.x=3"))
_add(conf("search.rounds: expected an integer, got [3]", "search.rounds=[3]"))
_add(conf("search.rounds: expected an integer, got '1e3'", "search.rounds=1e3"))
_add(
    conf(
        "nosuch: unknown key (expected one of: name, search, evaluator, controller, child, final, supernet, cluster)",
        "nosuch=1",
    )
)
_add(
    conf(
        "--set search={rounds: 2, rounds: 3}: rounds: given twice (first on line 1)",
        "search={rounds: 2, rounds: 3}",
    )
)
_add(conf("search.seed: expected at least 0, got -1", "search.seed=-1"))
_add(
    conf(
        f"search.seed: expected at most {MAX_SEED} (numpy's seed range), got {MAX_SEED + 1}",
        f"search.seed={MAX_SEED + 1}",
    )
)
_add(
    conf(
        "name: expected letters, digits, spaces, '.', '_' or '-' starting with a letter or digit "
        "(it names the run folder), got 'a/b'",
        "name=a/b",
    )
)
_add(
    conf(
        "search.initial_archs: 20000 is more than the 15625 architectures of the nb201 space",
        "search.space=nb201",
        "evaluator.kind=synthetic",
        "search.initial_archs=20000",
    )
)
_add(
    conf(
        "child.dataset: 'ptb' does not fit search.space 'nb201' (ptb goes with enas-rnn only)",
        "search.space=nb201",
        "child.dataset=ptb",
    )
)
_add(conf("child.device: expected one of auto, cpu, cuda, got 'tpu'", "child.device=tpu"))
_add(conf("search.shards: expected at least 1, got 0", "search.shards=0"))
_add(
    conf(
        "cluster.image: 'nao' has no tag; pin a version (no implicit :latest)", "cluster.image=nao"
    )
)
# ---------------------------------------------------------------- more pool files
_add(
    pool_line(
        json.dumps({"arch": NB201_CELLS[0], "space": "nb201", "accuracy": 1.5}),
        "accuracy: expected a fraction in [0, 1], got 1.5 (percentages: divide by 100)",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201_CELLS[0], "space": "nb201", "accuracy": -3.0}),
        "accuracy: expected a fraction in [0, 1], got -3.0 (percentages: divide by 100)",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201, "space": "nb201", "accuracy": 0.7}),
        "arch: duplicate of line 1 (canonical id "
        f"{get_space('nb201').canonical_id(get_space('nb201').parse(NB201))})",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201_CELLS[0], "space": "nb201", "round": "1"}),
        "round: expected an integer, got '1'",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201_CELLS[0], "space": "nb201", "eta": math.inf}),
        "eta: expected a finite number, got inf",
    )
)
_add(
    Case(
        "pool",
        ("pool", "check", "{tmp}/pools"),
        "{tmp}/pools: is a directory; expected a pool file (JSONL)",
        {"pools/": ""},
    )
)
_add(Case("pool", ("pool", "check", "{tmp}/none.jsonl"), "{tmp}/none.jsonl: no such pool file"))
_add(
    Case(
        "pool",
        ("pool", "check", "{tmp}/p.jsonl"),
        "{tmp}/p.jsonl:2: not UTF-8 text",
        {"p.jsonl": EVALUATED.splitlines()[0].encode() + b"\n\xff\xfe\n"},
    )
)
# ---------------------------------------------------------------- benchmark tables
_MIXED = table_rows().replace("82.5,81.5", "0.825,0.815")
_add(
    table(
        _MIXED,
        "{tmp}/t.csv:4: valid: 0.825 looks like a fraction but line 2 has a percentage (80.5); "
        "expected one unit for the whole table (all 0..1 or all 0..100)",
    )
)
_add(table(table_rows() + f"{NB201_CELLS[1]},70,70\n", "{tmp}/t.csv:8: arch: duplicate of line 3"))
_add(
    Case(
        "table",
        (*BENCH[:4], "{tmp}/tables", *BENCH[5:], *BENCH_TAIL),
        "{tmp}/tables: is a folder; expected a table file (CSV)",
        {"tables/": ""},
    )
)
_add(
    Case(
        "table",
        (*BENCH[:4], "{tmp}/none.csv", *BENCH[5:], *BENCH_TAIL),
        "{tmp}/none.csv: no such table file",
    )
)
_add(table("", "{tmp}/t.csv:1: empty file; expected a header with columns arch, valid"))
_add(table("arch,valid,test\n", "{tmp}/t.csv: no rows after the header"))
_add(
    table(
        table_rows(header="arch,test"), "{tmp}/t.csv:1: missing column 'valid' (header: arch,test)"
    )
)
_add(
    table(
        table_rows(header="arch,valid,acc"),
        "{tmp}/t.csv:1: unknown column 'acc'; expected some of arch, valid, test, seconds, params",
    )
)
_add(table(table_rows() + f"{NB201_CELLS[5]},70\n", "{tmp}/t.csv:8: expected 3 columns, got 2"))
_add(
    table(
        table_rows().replace("81.5,80.5", "nan,80.5"),
        "{tmp}/t.csv:3: valid: expected a finite number, got 'nan'",
    )
)
_add(
    table(
        table_rows().replace("81.5,80.5", "150,80.5"),
        "{tmp}/t.csv:3: valid: 150.0 is out of range for a table in percent (expected 0..100)",
    )
)
_add(
    table(
        table_rows(header="arch,valid,seconds").replace("81.5,80.5", "81.5,-2"),
        "{tmp}/t.csv:3: seconds: expected a non-negative number, got -2.0",
    )
)
_add(
    table(
        table_rows().replace(NB201_CELLS[2], NB201_CELLS[2].replace("~0", "~1", 1)),
        "{tmp}/t.csv:4: arch: nb201 edge 0->1: expected input 0, got '1'",
    )
)
_add(table(b"arch,valid\n\xff,1\n", "{tmp}/t.csv: not UTF-8 text"))
_add(
    Case(
        "table",
        (
            "search",
            "--config",
            "nb201",
            "--set",
            "evaluator.table={tmp}/t.csv",
            "--out",
            "{tmp}/run",
        ),
        "{tmp}/t.csv:4: valid: 0.825 looks like a fraction but line 2 has a percentage (80.5); "
        "expected one unit for the whole table (all 0..1 or all 0..100)",
        {"t.csv": _MIXED},
    )
)
# ---------------------------------------------------------------- data directories
_IMAGES = ("--set", "child.dataset=image-folder", "--set", "child.data_dir={tmp}/img")
_add(
    Case(
        "data",
        (*TRAIN_CHILD, "--set", "child.dataset=image-folder", "--set", "child.data_dir={tmp}/none"),
        "child.data_dir: {tmp}/none does not exist",
    )
)
_add(
    Case(
        "data",
        (*TRAIN_CHILD, *_IMAGES),
        "child.data_dir: {tmp}/img is a file; expected a folder",
        {"img": "x"},
    )
)
_add(
    Case(
        "data",
        (*TRAIN_CHILD, *_IMAGES),
        "child.data_dir: {tmp}/img has no train/ folder (expected train/<class>/ and test/<class>/ images)",
        {"img/": ""},
    )
)
_add(
    Case(
        "data",
        (*TRAIN_CHILD, *_IMAGES),
        "child.data_dir: {tmp}/img has no test/ folder (expected train/<class>/ and test/<class>/ images)",
        {"img/train/cat/": ""},
    )
)
_add(
    Case(
        "data",
        (*TRAIN_CHILD, *_IMAGES),
        "child.data_dir: {tmp}/img/train has no class folders",
        {"img/train/": "", "img/test/": ""},
    )
)
_add(
    Case(
        "data",
        (*TRAIN_CHILD, *_IMAGES),
        "child.data_dir: {tmp}/img/test has no dog/ folder (train/ has that class)",
        {"img/train/cat/": "", "img/train/dog/": "", "img/test/cat/": ""},
    )
)
_add(
    Case(
        "data",
        (*TRAIN_CHILD, *_IMAGES, "--set", "child.dev_size=1", "--set", "child.train_subset=0"),
        "child.data_dir: {tmp}/img/train/cat/0.png: not a readable image",
        {
            "img/train/cat/0.png": "not a png",
            "img/train/cat/1.png": "not a png",
            "img/test/cat/0.png": "not a png",
        },
    )
)
_add(
    Case(
        "data",
        (*TRAIN_CHILD, "--set", "child.dataset=cifar10", "--set", "child.data_dir={tmp}/img"),
        "child.data_dir: no cifar10 under {tmp}/img (expected cifar-10-batches-py/ as torchvision "
        "writes it, or train/<class>/ and test/<class>/ folders), and child.download is false",
        {"img/": ""},
    )
)
_add(
    Case(
        "data",
        (
            *TRAIN_CHILD[:2],
            "enas-rnn",
            TRAIN_CHILD[3],
            RNN,
            *TRAIN_CHILD[5:],
            "--config",
            "ptb",
            "--set",
            "child.data_dir={tmp}/ptb",
        ),
        "child.data_dir: {tmp}/ptb has no ptb.valid.txt (expected ptb.train.txt, ptb.valid.txt, ptb.test.txt)",
        {"ptb/ptb.train.txt": "a b c\n"},
    )  # fmt: skip
)
_add(
    Case(
        "data",
        (
            "search",
            "--out",
            "{tmp}/run",
            "--set",
            "child.dataset=image-folder",
            "--set",
            "child.data_dir={tmp}/none",
        ),
        "child.data_dir: {tmp}/none does not exist",
    )
)
_add(
    Case(
        "data",
        ("search", "--out", "{tmp}/run", "--set", "child.dataset=cifar10"),
        "child.data_dir: required for cifar10 (or set child.download=true)",
    )
)
# ---------------------------------------------------------------- output paths
_add(
    Case(
        "output",
        ("compile", "-o", "/proc/p.yaml"),
        f"-o /proc/p.yaml: cannot write in /proc ({_cannot_create_in('/proc')})",
    )
)
_add(
    Case(
        "output",
        ("compile", "-o", "{tmp}/adir"),
        "-o {tmp}/adir: is a folder; expected a file name",
        {"adir/": ""},
    )
)
_add(
    Case(
        "output",
        ("compile", "-o", "{tmp}/none/p.yaml"),
        "-o {tmp}/none/p.yaml: folder {tmp}/none does not exist",
    )
)
_add(
    Case(
        "output",
        ("compile", "-o", "{tmp}/f.txt/p.yaml"),
        "-o {tmp}/f.txt/p.yaml: {tmp}/f.txt is a file, not a folder",
        {"f.txt": "x"},
    )
)
_add(
    Case(
        "output",
        ("compile", "-o", "{tmp}/p.yaml", "--set", "search.eta=.nan"),
        "search.eta: expected a finite number, got nan",
    )
)
_add(
    Case(
        "output",
        ("search", "--out", "{tmp}/f.txt"),
        "--out {tmp}/f.txt: is a file; expected a folder",
        {"f.txt": "x"},
    )
)
_add(
    Case(
        "output",
        ("search", "--out", "{tmp}/f.txt/run"),
        "--out {tmp}/f.txt/run: {tmp}/f.txt is a file, not a folder",
        {"f.txt": "x"},
    )
)
_add(
    Case(
        "output",
        ("search", "--out", "{tmp}/run", "--set", "search.rounds=0"),
        "search.rounds: expected at least 1, got 0",
    )
)
_add(
    Case(
        "output",
        (
            "search",
            "--out",
            "{tmp}/run",
            "--set",
            "search.space=nb201",
            "--set",
            "child.dataset=ptb",
        ),
        "child.dataset: 'ptb' does not fit search.space 'nb201' (ptb goes with enas-rnn only)",
    )
)
_add(
    Case(
        "output",
        (*TRAIN_CHILD[:-1], "{tmp}/f.txt"),
        "--out {tmp}/f.txt: is a file; expected a folder",
        {"f.txt": "x"},
    )
)
_add(
    Case(
        "output",
        (
            "controller",
            "fit",
            "--space",
            "nb201",
            "--train",
            "{tmp}/p.jsonl",
            "--out",
            "{tmp}/f.txt",
        ),
        "--out {tmp}/f.txt: is a file; expected a folder",
        {"p.jsonl": EVALUATED, "f.txt": "x"},
    )
)
_add(
    Case(
        "output",
        (
            "controller",
            "propose",
            "--model",
            "{tmp}/m",
            "--pool",
            "{tmp}/p.jsonl",
            "--out",
            "{tmp}/adir",
        ),
        "--out {tmp}/adir: is a folder; expected a file name",
        {"p.jsonl": EVALUATED, "adir/": ""},
    )
)
_add(
    Case(
        "output",
        ("export", "--checkpoint", "{tmp}/c.pt", "--out", "{tmp}/f.txt"),
        "--out {tmp}/f.txt: is a file; expected a folder",
        {"c.pt": "x", "f.txt": "x"},
    )
)
_add(
    bench(
        "--json {tmp}/adir: is a folder; expected a file name",
        *("--json", "{tmp}/adir"),
        kind="output",
        folder="adir",
    )
)
_add(
    bench(
        "--plot {tmp}/none/p.png: folder {tmp}/none does not exist",
        *("--plot", "{tmp}/none/p.png"),
        kind="output",
    )
)
# ---------------------------------------------------------------- command lines
_add(Case("cli", ("frobnicate",), "argument command: invalid choice: 'frobnicate'", exact=False))
_add(Case("cli", ("search", "--bogus"), "unrecognized arguments: --bogus"))
_add(Case("cli", (), "the following arguments are required: command"))
_add(
    Case(
        "cli", ("compile",), "the following arguments are required: -o/--output", prog="nao compile"
    )
)
_add(
    Case(
        "cli",
        ("pool", "check"),
        "the following arguments are required: FILE",
        prog="nao pool check",
    )
)
_add(
    Case(
        "cli",
        ("arch", "show", "--space", "darts", NB201),
        "argument --space: invalid choice: 'darts'",
        prog="nao arch show",
        exact=False,
    )
)
# nao katib check: the Experiment file, and every problem the suggestion service refuses it for
KATIB_EXPERIMENT = """\
kind: Experiment
metadata: {name: e}
spec:
  parameters: [{name: arch, parameterType: categorical, feasibleSpace: {list: [nb201]}}]
  objective: {type: minimize, objectiveMetricName: loss}
  algorithm:
    algorithmName: nao
    algorithmSettings: [{name: evaluator.kind, value: synthetic}, {name: search.sead, value: "1"}]
  maxTrialCount: 20
"""
_add(
    Case(
        "cli",
        ("katib", "check", "{tmp}/e.yaml"),
        "spec.objective.type: NAO maximizes the trial's score (dev_accuracy from `nao train-child "
        "--katib`), expected maximize; search.sead: unknown key (did you mean seed?)",
        {"e.yaml": KATIB_EXPERIMENT},
        exact=False,
    )
)
_add(
    Case(
        "cli",
        ("katib", "check", "{tmp}/e.yaml"),
        "{tmp}/e.yaml: no Experiment resource (kind: Experiment)",
        {"e.yaml": "kind: Pod\n"},
    )
)
_add(
    Case(
        "cli",
        ("katib", "check", "{tmp}/none.yaml"),
        "{tmp}/none.yaml: cannot read (No such file or directory)",
    )
)
_add(
    Case(
        "cli",
        ("katib", "serve", "--port", "70000"),
        "argument --port: expected a TCP port 1-65535, got '70000'",
        prog="nao katib serve",
    )
)
_add(bench("--queries 0: 0 is below the minimum 1", "--queries", "0"))
_add(bench("--queries abc: expected integers like 0-9 or 0,3,5, got 'abc'", "--queries", "abc"))
_add(bench("budget: 1000 queries but the table has only 6 architectures", "--queries", "1000"))
_add(bench("--seeds 5-2: range 5-2 ends below its start", "--seeds", "5-2"))
_add(bench("--seeds -3: -3 is below the minimum 0", "--seeds=-3"))
_add(bench("--seeds 0-100000000: more than 10000 values", "--seeds", "0-100000000"))
_add(bench("--seeds : expected integers like 0-9 or 0,3,5, got ''", "--seeds="))
_add(
    bench(
        "--strategy: unknown name 'greedy'; expected some of nao, evolution, random, "
        "evolution-unseeded, random-unseeded, params",
        "--strategy",
        "greedy",
    )
)
_add(
    bench(
        "argument --population: expected a positive integer, got '0'",
        "--population",
        "0",
        prog="nao benchmark",
    )
)
_add(
    Case(
        "cli",
        (
            "controller",
            "propose",
            "--model",
            "{tmp}/m",
            "--pool",
            "{tmp}/p.jsonl",
            "--count",
            "0",
            "--out",
            "{tmp}/n.jsonl",
        ),
        "argument --count: expected a positive integer, got '0'",
        prog="nao controller propose",
    )
)
_add(
    Case(
        "cli",
        (
            "controller",
            "propose",
            "--model",
            "{tmp}/m",
            "--pool",
            "{tmp}/p.jsonl",
            "--eta",
            "nan",
            "--out",
            "{tmp}/n.jsonl",
        ),
        "argument --eta: expected a finite number, got 'nan'",
        prog="nao controller propose",
    )
)
_add(
    Case(
        "cli",
        (
            "controller",
            "propose",
            "--model",
            "{tmp}/m.pt",
            "--pool",
            "{tmp}/p.jsonl",
            "--out",
            "{tmp}/n.jsonl",
        ),
        "--model {tmp}/m.pt: not a controller checkpoint (UnpicklingError)",
        {"m.pt": "not a checkpoint\n", "p.jsonl": EVALUATED},
    )
)
_add(
    Case(
        "cli",
        ("controller", "fit", "--space", "nb201", "--train", "{tmp}/p.jsonl", "--out", "{tmp}/m"),
        "train: needs at least 2 evaluated architectures (status ok), got 0",
        {"p.jsonl": PENDING},
    )
)
_add(
    Case(
        "cli",
        ("export", "--checkpoint", "{tmp}/c.pt", "--out", "{tmp}/model"),
        "--checkpoint {tmp}/c.pt: not a torch checkpoint (UnpicklingError)",
        {"c.pt": "not a checkpoint\n"},
    )
)
_add(
    Case(
        "cli",
        ("export", "--checkpoint", "{tmp}/none.pt", "--out", "{tmp}/model"),
        "--checkpoint {tmp}/none.pt: no such file",
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/none"),
        "MODEL_DIR {tmp}/none: no such folder (expected `nao export --out`)",
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m"),
        "MODEL_DIR {tmp}/m: no model.pt2 (expected `nao export --out`)",
        {"m/model.pt": "not a model\n"},
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m", "--port", "8081"),
        "MODEL_DIR {tmp}/m: model.pt is not a torch file (UnpicklingError)",
        {"m/model.pt": "not a model\n", "m/model.pt2": "not a program\n"},
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m"),
        "MODEL_DIR {tmp}/m: model.pt2 is not a torch.export program (BadZipFile)",
        {"m/model.pt": EXPORTED_RECORD, "m/model.pt2": "not a program\n"},
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m"),
        "MODEL_DIR {tmp}/m: model.pt is not an exported nao-kfp-model file",
        {"m/model.pt": torch_file({"arch": "a checkpoint, not a model"}), "m/model.pt2": "x\n"},
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m", "--port", "70000"),
        "argument --port: expected a TCP port 1-65535, got '70000'",
        prog="nao serve",
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m", "--name", "My_Model"),
        "argument --name: expected lowercase letters, digits and '-' (at most 63, no leading or "
        "trailing '-'), got 'My_Model'",
        prog="nao serve",
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m", "--threads", "0"),
        "argument --threads: expected a whole number of threads 1-1024, got '0'",
        prog="nao serve",
    )
)
_add(
    Case(
        "cli",
        (
            "submit",
            "--host",
            "http://127.0.0.1:9",
            "--experiment",
            "e",
            "--package",
            "{tmp}/p.yaml",
        ),
        "--package {tmp}/p.yaml: no such file (expected `nao compile` YAML)",
    )
)
_add(
    Case(
        "cli",
        (*TRAIN_CHILD, "--seed", "-1"),
        f"argument --seed: expected 0..{MAX_SEED}, got '-1'",
        prog="nao train-child",
    )
)
_add(
    Case(
        "cli",
        ("reproduce", "--reference", "{tmp}/none.json"),
        "{tmp}/none.json: no reference yet; run `nao reproduce --update-reference`",
    )
)
_add(
    Case(
        "cli",
        (
            "train-child",
            "--space",
            "nb201",
            "--arch",
            NB201,
            "--out",
            "{tmp}/child",
            "--set",
            "child.dataset=ptb",
        ),
        "child.dataset: 'ptb' does not fit search.space 'nb201' (ptb goes with enas-rnn only)",
    )
)

_add(
    Case(
        "cli",
        ("reproduce", "--reference", "{tmp}/ref.json"),
        "{tmp}/ref.json: not valid JSON (Expecting property name enclosed in double quotes at "
        "column 2)",
        {"ref.json": "{x\n"},
    )
)
_add(
    Case(
        "cli",
        ("reproduce", "--reference", "{tmp}/ref.json"),
        "{tmp}/ref.json: expected a JSON object with a spec (a reference document)",
        {"ref.json": "[1]\n"},
    )
)
_add(
    Case(
        "output",
        ("reproduce", "--update-reference", "--reference", "{tmp}/refs"),
        "--reference {tmp}/refs: is a folder; expected a file name",
        {"refs/": ""},
    )
)
_add(
    Case(
        "output",
        ("reproduce", "--pipeline-root", "{tmp}/f.txt"),
        "--pipeline-root {tmp}/f.txt: is a file; expected a folder",
        {"f.txt": "x"},
    )
)

_add(
    Case(
        "table",
        (
            "search",
            "--config",
            "nb201",
            "--set",
            "evaluator.table={tmp}/nb201.csv",
            "--out",
            "{tmp}/run",
        ),
        "evaluator.table: no such file '{tmp}/nb201.csv' "
        "(--set evaluator.table=<a CSV of arch,valid[,test,seconds]>)",
    )
)

# ---------------------------------------------------------------- priors (search.prior)
_ENAS_POOL = json.dumps({"arch": ENAS, "space": "enas", "accuracy": 0.5}) + "\n"


def _prior_search(message: str, prior: str | bytes | None, *sets: str) -> Case:
    """`nao search` on a valid table with the prior file `{tmp}/p.jsonl` (None: none written)."""
    files: dict[str, str | bytes] = {"t.csv": table_rows()}
    if prior is not None:
        files["p.jsonl"] = prior
    argv = ("search", "--config", "nb201", "--set", "evaluator.table={tmp}/t.csv", "--set",
            "search.prior=[{tmp}/p.jsonl]", *(a for s in sets for a in ("--set", s)),
            "--out", "{tmp}/run")  # fmt: skip
    return Case("pool", argv, message, files)


_add(
    _prior_search(
        "search.prior[0]: {tmp}/p.jsonl: a pool of the enas space; this search is in nb201",
        _ENAS_POOL,
    )
)
_add(
    _prior_search(
        "search.prior[0]: {tmp}/p.jsonl:2: not valid JSON (Expecting value at column 1)",
        EVALUATED.splitlines()[0] + "\nnot json\n",
    )
)
_add(_prior_search("search.prior[0]: {tmp}/p.jsonl: no such pool file", None))
_add(
    _prior_search(
        "search.prior[0]: {tmp}/p.jsonl: 0 evaluated architectures; a prior needs at least 2",
        PENDING,
    )
)
_add(
    bench(
        "--prior: {tmp}/p.jsonl: a pool of the enas space; this search is in nb201",
        *("--prior", "{tmp}/p.jsonl"),
        kind="pool",
    )
)
CASES[-1] = dataclasses.replace(CASES[-1], files={**CASES[-1].files, "p.jsonl": _ENAS_POOL})
_add(
    conf(
        "search.prior_seed: 30 is more than search.initial_archs (12)",
        "search.prior_seed=30",
    )
)
_add(conf("search.prior[0]: s3://pools: expected s3://bucket/key", "search.prior=[s3://pools]"))
_add(
    conf(
        "search.prior_targets: expected one of quantile, zscore, got 'raw'",
        "search.prior=[p.jsonl]",
        "search.prior_targets=raw",
    )
)
_add(conf("search.prior: expected a list, got 'p.jsonl'", "search.prior=p.jsonl"))


# ---------------------------------------------------------------- checkpoints (nao export)
EXPORT = ("export", "--checkpoint", "{tmp}/c/checkpoint.pt", "--out", "{tmp}/model")
_CKPT = "--checkpoint {tmp}/c/checkpoint.pt"
_SPEC = child_checkpoint()["spec"]


def _export(message: str, files: dict[str, str | bytes], *argv: str) -> Case:
    """`nao export` of a damaged child checkpoint (or what lies beside it)."""
    return Case("checkpoint", argv or EXPORT, message, files)


def _ckpt(message: str, **changes: object) -> Case:
    return _export(
        f"{_CKPT}: {message}", {"c/checkpoint.pt": torch_file(child_checkpoint(**changes))}
    )


_add(_ckpt("spec.bogus: unknown key", spec={**_SPEC, "bogus": 1}))
_add(_ckpt("spec.layers: expected at least 1, got -1", spec={**_SPEC, "layers": -1}))
_add(
    _ckpt(
        "spec.channels: expected at most 4096 (each is a dimension of the network's weight "
        "matrices), got 10000000",
        spec={**_SPEC, "channels": 10**7},
    )
)
_add(_ckpt("spec.channels: expected an integer, got 'x'", spec={**_SPEC, "channels": "x"}))
_add(
    _ckpt(
        "model: the weights do not fit the network its spec and arch describe (0 missing, 0 "
        "unknown, 127 of another shape; stem0.0.weight is [12, 1, 3, 3], expected [24, 1, 3, 3])",
        spec={**_SPEC, "channels": 8},
    )
)
_add(_ckpt("model: expected the network's weights (names to tensors)", model=[1, 2]))
_add(
    _ckpt(
        "arch: space: unknown space 'darts'; expected one of nasnet, enas, enas-rnn, nb201",
        space="darts",
    )
)
_add(
    _ckpt(
        "normalize.mean: expected 1 finite numbers (one a channel), got [0.5, 0.5, 0.5]",
        normalize={"mean": [0.5] * 3, "std": [0.25] * 3},
    )
)
_add(_ckpt("class_names: expected 2 names (spec.classes), got 3", class_names=["a", "b", "c"]))
_add(_ckpt("holds a value JSON has no form for (Object of type Tensor is not JSON serializable)",
           arch=torch.zeros(2)))  # fmt: skip
_GOOD = torch_file(child_checkpoint())
_add(
    _export(
        "{tmp}/c/result.json: not valid JSON (Unterminated string starting at column 2)",
        {"c/checkpoint.pt": _GOOD, "c/result.json": '{"dev_accur'},
    )
)
_add(
    _export(
        "{tmp}/c/result.json: expected an object, got [0.5]",
        {"c/checkpoint.pt": _GOOD, "c/result.json": "[0.5]"},
    )
)
_add(
    _export(
        "{tmp}/c/result.json: nested too deep; expected at most 64 levels",
        {"c/checkpoint.pt": _GOOD, "c/result.json": "[" * 100_000 + "]" * 100_000},
    )
)
_add(
    _export(
        "{tmp}/c/result.json: a number of 5000 characters; expected at most 100",
        {"c/checkpoint.pt": _GOOD, "c/result.json": '{"params": ' + "9" * 5000 + "}"},
    )
)
_add(
    _export(
        "{tmp}/c/checkpoint.pt.sha256: not a checksum file (expected `<sha256>  checkpoint.pt`)",
        {"c/checkpoint.pt": _GOOD, "c/checkpoint.pt.sha256/": ""},
    )
)
_add(
    _export(
        "--checkpoint: expected a checkpoint file or folder, got ''",
        {},
        "export",
        "--checkpoint",
        "",
        "--out",
        "{tmp}/model",
    )
)
_add(
    _export(
        "--out {tmp}/model/model.pt: is a FIFO; only regular files are written",
        {"c/checkpoint.pt": _GOOD, "model/model.pt": FIFO},
    )
)
_add(
    _export(
        "--out {tmp}/model/model.pt2: is a folder; expected a file name",
        {"c/checkpoint.pt": _GOOD, "model/model.pt2/": ""},
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m"),
        "MODEL_DIR {tmp}/m: model.pt: spec.layers: expected at least 1, got 0",
        {"m/model.pt": torch_file({**exported_record(), "spec": {**_SPEC, "layers": 0}}),
         "m/model.pt2": "x\n"},
    )
)  # fmt: skip
_PROPOSE = ("controller", "propose", "--model", "{tmp}/m/model.pt", "--pool", "{tmp}/p.jsonl",
            "--out", "{tmp}/n.jsonl")  # fmt: skip
_CONTROLLER = controller_checkpoint()


def _controller(message: str, model: str | bytes) -> Case:
    return Case("checkpoint", _PROPOSE, message, {"m/model.pt": model, "p.jsonl": EVALUATED})


_add(
    _controller(
        "{tmp}/m/model.pt: state_dict: the weights do not fit the network controller.* describes",
        torch_file(controller_checkpoint(config={**_CONTROLLER["config"], "hidden_size": 16})),
    )
)
_add(
    _controller(
        "{tmp}/m/model.pt: controller.hidden_size: expected at most 4096 (each is a dimension of "
        "the network's weight matrices), got 1000000",
        torch_file(controller_checkpoint(config={**_CONTROLLER["config"], "hidden_size": 10**6})),
    )
)
_add(
    _controller(
        "{tmp}/m/model.pt.target_min: expected a number, got 'x'",
        torch_file(controller_checkpoint(target_min="x")),
    )
)
_add(_controller("{tmp}/m/model.pt: not a regular file (expected model.pt)", FIFO))
_add(
    conf("{tmp}/c.yaml:1: expected a name as a key, got list", yaml_text="? [search, child]\n: 2\n")
)
_add(
    Case(
        "cli",
        ("arch", "sample", "--space", "nb201", "--count", "9" * 5000),
        "argument --count: invalid int value: '" + "9" * 199 + "…'",
        prog="nao arch sample",
    )
)
# ---------------------------------------------------------------- output paths that are not files
_add(Case("output", ("compile", "-o", "{tmp}/p.yaml"),
          "-o {tmp}/p.yaml: is a FIFO; only regular files are written", {"p.yaml": FIFO}))  # fmt: skip
_add(
    Case(
        "output",
        ("compile", "-o", "{tmp}/p.yaml"),
        "-o {tmp}/p.yaml: is a device; only regular files are written",
        {"p.yaml": LINK_TO_DEV_NULL},
    )
)
_add(
    Case(
        "output",
        ("compile", "-o", "{tmp}/p.yaml"),
        "-o {tmp}/p.yaml: a link to nothing; expected a regular file",
        {"p.yaml": DANGLING_LINK},
    )
)
_add(Case("output", ("compile", "-o", ""), "argument -o/--output: expected a path, got ''",
          prog="nao compile"))  # fmt: skip
_add(Case("output", ("search", "--out", ""), "argument --out: expected a path, got ''",
          prog="nao search"))  # fmt: skip
_add(
    Case(
        "output",
        ("compile", "-o", "{tmp}/" + "x" * 300 + ".yaml"),
        "-o {tmp}/xxxx",
        exact=False,
    )
)
_add(
    Case(
        "output",
        ("search", "--out", "{tmp}/" + "r" * 300),
        "--out {tmp}/rrrr",
        exact=False,
    )
)
_add(
    Case(
        "output",
        ("search", "--out", "{tmp}/run"),
        "--out {tmp}/run: holds other files and no run (config.json); expected a new or empty "
        "folder, or a run's folder to resume",
        {"run/notes.txt": "mine\n"},
    )
)
_add(
    Case(
        "output",
        ("search", "--out", "{tmp}/run", "--set", "search.rounds=2"),
        "--out {tmp}/run: holds a run of another config (search.rounds: 3 there, 2 here); resume "
        "it with its settings, or choose another folder",
        {"run/config.json": json.dumps(Config.from_dict(read_yaml(preset_path("demo"))).to_dict()),
         "run/kfp.log": "an earlier run\n"},
    )
)  # fmt: skip
_add(
    Case(
        "output",
        ("search", "--out", "{tmp}/run"),
        "--out {tmp}/run/result.json: is a FIFO; only regular files are written",
        {"run/result.json": FIFO},
    )
)
_add(
    Case(
        "output",
        (*TRAIN_CHILD,),
        "--out {tmp}/child/result.json: is a FIFO; only regular files are written",
        {"child/result.json": FIFO},
    )
)
# ---------------------------------------------------------------- a flag and a --set disagree
_add(
    Case(
        "cli",
        (*TRAIN_CHILD, "--set", "search.space=nb201"),
        "--space enas and --set search.space=nb201 disagree; give one of them",
    )
)
_add(
    Case(
        "cli",
        (*TRAIN_CHILD, "--seed", "3", "--set", "search.seed=4"),
        "--seed 3 and --set search.seed=4 disagree; give one of them",
    )
)
_add(bench("--space nb201 and --set search.space=enas disagree; give one of them",
           "--set", "search.space=enas"))  # fmt: skip
_add(
    bench(
        "--nao-unavailable skip and --set evaluator.unavailable=nearest disagree; give one of them",
        *("--nao-unavailable", "skip", "--set", "evaluator.unavailable=nearest"),
    )
)
_add(
    Case(
        "cli",
        ("controller", "propose", "--model", "{tmp}/m", "--pool", "{tmp}/p.jsonl", "--eta", "5",
         "--set", "search.eta=6", "--out", "{tmp}/n.jsonl"),
        "--eta 5.0 and --set search.eta=6 disagree; give one of them",
        {"p.jsonl": EVALUATED},
    )
)  # fmt: skip
_add(
    Case(
        "cli",
        ("controller", "fit", "--space", "nb201", "--train", "{tmp}/p.jsonl", "--set",
         "search.space=enas", "--out", "{tmp}/m"),
        "--space nb201 and --set search.space=enas disagree; give one of them",
        {"p.jsonl": EVALUATED},
    )
)  # fmt: skip
_add(Case("cli", ("search", "--config", "", "--out", "{tmp}/run"),
          "--config: expected a preset name or a YAML file, got ''"))  # fmt: skip
_add(
    Case(
        "cli",
        ("export", "--checkpoint", "{tmp}/c.pt", "--out", "{tmp}/m", "--config", ""),
        "--config: expected a preset name or a YAML file, got ''",
        {"c.pt": _GOOD},
    )
)
_add(bench("--queries " + "9" * 59 + "…: expected numbers of at most 18 digits",
           "--queries", "9" * 5000))  # fmt: skip
_add(
    Case(
        "cli",
        ("params", "--space", "enas", "--arch", ENAS, "--layers", "100000", "--channels", "8"),
        "--layers: expected at most 64, got 100000",
    )
)
_add(
    Case(
        "cli",
        ("submit", "--host", "http://" + "h" * 300, "--experiment", "e"),
        "--host http://hhh",
        exact=False,
    )
)
_add(
    Case(
        "cli",
        ("serve", "{tmp}/m", "--host", "no such host.invalid"),
        "argument --host: expected an IP address or host name to listen on, got "
        "'no such host.invalid'",
        prog="nao serve",
    )
)
# ---------------------------------------------------------------- sizes with a ceiling
_add(
    conf(
        "search.proxy_pool: expected at most 10000 (each is a network build), got 1000000000",
        "search.proxy_pool=1000000000",
    )
)
_add(
    conf(
        "evaluator.proxy_reference: expected at most 10000 (each is a network build), got "
        "1000000000",
        "evaluator.proxy_reference=1000000000",
    )
)
# each key is checked though its feature is off (no proxy seeding, no recalibration)
_add(conf("search.proxy_pool: expected at least 1, got -5", "search.proxy_pool=-5"))
_add(conf("supernet.bn_batches: expected at least 0, got -1", "supernet.bn_batches=-1"))
_add(
    conf(
        "controller.pseudo_labels: expected at most 1000000 (each is an architecture sampled and "
        "held in memory), got 1000000000",
        "controller.pseudo_labels=1000000000",
    )
)
_add(
    conf(
        "search.eta_growth: 1.001 takes 1382242 steps from search.eta 1e-300 to search.eta_max "
        "1e+300; expected at most 64 (each step decodes every seed)",
        "search.eta=1e-300",
        "search.eta_max=1e300",
        "search.eta_growth=1.001",
    )
)
_add(conf("--set search.rounds=" + "9" * 45 + "…: Exceeds the limit (4300 digits) for integer "
          "string conversion", "search.rounds=" + "9" * 5000))  # fmt: skip
_add(conf("--set search.prior=" + "[" * 46 + "…: nested too deep",
          "search.prior=" + "[" * 5000 + "]" * 5000))  # fmt: skip
_add(
    conf(
        "--set search.prior=[x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x,x…: 600015 characters; "
        "expected at most 65536",
        "search.prior=[" + "x," * 300_000 + "]",
    )
)
_add(conf("search.space: expected one of nasnet, enas, enas-rnn, nb201, got '" + "x" * 198 + "…",
          "search.space=" + "x" * 50_000))  # fmt: skip
# nao search reads an s3:// prior through the store (a cluster's KFP importer fetches it)
_add(
    Case(
        "pool",
        ("search", "--config", "nb201", "--set", "evaluator.table={tmp}/t.csv", "--set",
         "search.prior=[s3://pools/p.jsonl]", "--out", "{tmp}/run"),
        "search.prior[0]: s3://pools/p.jsonl is read through the store, and cluster.s3_endpoint "
        "is empty; set it (host:port) or give a local pool file",
        {"t.csv": table_rows()},
    )
)  # fmt: skip
# ---------------------------------------------------------------- config files at their limits
_add(conf("{tmp}/c.yaml: 5600017 bytes; expected at most 262144",
          yaml_text="search:\n  prior:\n" + "    - x\n" * 700_000))  # fmt: skip
_add(conf("{tmp}/c.yaml: nested too deep", yaml_text="search: " + "[" * 5000 + "]" * 5000))
_add(conf("{tmp}/c.yaml: Exceeds the limit (4300 digits) for integer string conversion",
          yaml_text="search:\n  rounds: " + "9" * 5000 + "\n"))  # fmt: skip
_add(
    conf(
        "{tmp}/c.yaml: more than 100000 values once its aliases are expanded",
        yaml_text="a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
            for p, n in zip("abcde", "bcdef", strict=True)
        ),
    )
)
_add(
    Case(
        "config",
        ("config", "show", "--config", "{tmp}/c.yaml"),
        "--config {tmp}/c.yaml: not a regular file; expected a YAML file",
        {"c.yaml": FIFO},
    )
)
# ---------------------------------------------------------------- pools and priors at their limits
_add(pool_line("[" * 100_000 + "]" * 100_000, "nested too deep; expected at most 64 levels"))
_add(
    pool_line(
        '{"arch": "x", "space": "nb201", "accuracy": ' + "1" * 5000 + "}",
        "a number of 5000 characters; expected at most 100",
    )
)
_add(
    pool_line(
        json.dumps({"arch": NB201_CELLS[1], "space": "nb201", "x": "y" * 2_000_000}),
        "a line longer than 1048576 bytes",
    )
)
_add(
    pool_line(
        json.dumps({"arch": "x" * 500_000, "space": "nb201"}),
        "arch: nb201: expected 3 node groups joined by '+', got 1 in '" + "x" * 198 + "…",
    )
)
_add(
    Case(
        "pool",
        ("pool", "check", "{tmp}/p.jsonl"),
        "{tmp}/p.jsonl: not a regular file; expected a pool file (JSONL)",
        {"p.jsonl": FIFO},
    )
)
_add(
    _prior_search(
        "search.prior[0]: {tmp}/p.jsonl:2: nested too deep; expected at most 64 levels",
        EVALUATED.splitlines()[0] + "\n" + "[" * 100_000 + "]" * 100_000 + "\n",
    )
)
_add(
    _prior_search(
        "search.prior[0]: {tmp}/p.jsonl:1: a number of 5002 characters; expected at most 100",
        '{"arch": "x", "space": "nb201", "accuracy": 0.' + "5" * 5000 + "}\n",
    )
)
# ---------------------------------------------------------------- tables at their limits
_add(table(table_rows().replace("80.5", "9" * 5000),
           "{tmp}/t.csv:2: valid: a number of 5000 characters; expected at most 100"))  # fmt: skip
_add(table("arch,valid\n" + "x" * 300_000 + ",5\n",
           "{tmp}/t.csv:2: not a CSV row (field larger than field limit (131072))"))  # fmt: skip
_add(
    Case(
        "table",
        (*BENCH, *BENCH_TAIL),
        "{tmp}/t.csv: not a regular file",
        {"t.csv": FIFO},
    )
)
# ---------------------------------------------------------------- found before the run folder
_add(
    Case(
        "data",
        ("search", "--set", "search.space=nb201", "--set", "child.dataset=cifar10", "--set",
         "evaluator.kind=proxy", "--set", "evaluator.proxies=[naswot]", "--out", "{tmp}/run"),
        "child.data_dir: required for cifar10 (or set child.download=true)",
    )
)  # fmt: skip
_add(
    Case(
        "data",
        ("search", "--set", "child.dataset=image-folder", "--set", "child.data_dir={tmp}/img",
         "--out", "{tmp}/run"),
        "child.dev_size: 300 dev + 600 train images do not fit in the 2 images under "
        "{tmp}/img/train",
        {"img/train/a/1.png": b"x", "img/train/b/1.png": b"x", "img/test/a/1.png": b"x",
         "img/test/b/1.png": b"x"},
    )
)  # fmt: skip
_PTB = {f"ptb/ptb.{s}.txt": "the cat sat on the mat\n" * 40 for s in ("train", "valid", "test")}
_add(
    Case(
        "data",
        ("search", "--config", "nao-ws-ptb-cpu", "--set", "child.data_dir={tmp}/ptb",
         "--set", "child.train_subset=0", "--out", "{tmp}/run"),
        "supernet.dev_batches: 4 windows of child.rnn.bptt=35 tokens in "
        "supernet.eval_batch_size=64 streams need 8960 validation tokens; the corpus has 256",
        _PTB,
    )
)  # fmt: skip
_add(
    Case(
        "data",
        ("search", "--config", "ptb", "--set", "child.data_dir={tmp}/ptb", "--set",
         "child.train_subset=10", "--out", "{tmp}/run"),
        "child.batch_size: 64 streams leave fewer than 2 tokens each (10 tokens)",
        _PTB,
    )
)  # fmt: skip
_add(
    Case(
        "data",
        ("search", "--set", "child.dataset=image-folder", "--set", "child.data_dir={tmp}/img",
         "--out", "{tmp}/run"),
        "child.data_dir: {tmp}/img/train/a/2.png: not a regular file; expected an image",
        {"img/train/a/1.png": b"x", "img/train/a/2.png": FIFO, "img/test/a/1.png": b"x"},
    )
)  # fmt: skip
_add(
    Case(
        "data",
        ("search", "--config", "ptb", "--set", "child.data_dir={tmp}/ptb", "--out", "{tmp}/run"),
        "child.data_dir: {tmp}/ptb/ptb.train.txt: not UTF-8 text",
        {**_PTB, "ptb/ptb.train.txt": b"\xff\xfe"},
    )
)
_add(
    Case(
        "output",
        ("search", "--set", "cluster.store_dir={tmp}/f.txt/store", "--out", "{tmp}/run"),
        "cluster.store_dir {tmp}/f.txt/store: {tmp}/f.txt is a file, not a folder",
        {"f.txt": "x"},
    )
)
if not torch.cuda.is_available():  # with a GPU the search would start
    _add(
        Case(
            "data",
            ("search", "--set", "child.device=cuda", "--out", "{tmp}/run"),
            "child.device: cuda, and this machine has no CUDA device (use auto)",
        )
    )
# ---------------------------------------------------------------- echo
_add(
    arch(
        "enas",
        "normal[" + "x" * 5_000_000,
        "enas: expected normal[...] at 'normal[xxxxxxxxxxxxxxxxxxxxxxx'",
    )
)
_add(arch("nb201", "|" + "y" * 5_000_000 + "|",
          "nb201: expected 3 node groups joined by '+', got 1 in '|" + "y" * 197 + "…"))  # fmt: skip


def _ids() -> list[str]:
    seen: Counter[str] = Counter()
    out = []
    for c in CASES:
        seen[c.kind] += 1
        out.append(f"{c.kind}-{seen[c.kind]}")
    return out


IDS = _ids()
KINDS = ("config", "set", "arch", "pool", "table", "data", "output", "cli", "checkpoint")


def test_the_corpus_covers_every_kind_of_input() -> None:
    counts = Counter(c.kind for c in CASES)
    assert len(CASES) >= 100 and set(counts) == set(KINDS), counts
    assert min(counts.values()) >= 8, counts


def _check_line(err: str, line: str, exact: bool) -> None:
    assert "Traceback" not in err, err
    assert len(err.splitlines()) == 1, err
    if exact:
        assert err == line + "\n"
    else:
        assert err.startswith(line), err


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_input_in_process(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, line = materialize(case, tmp_path)
    before = tree(tmp_path)
    if case.stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(case.stdin))
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, err
    _check_line(err, line, case.exact)
    assert out == ""
    assert tree(tmp_path) == before, "partial output left behind"


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Result, str, Path]]:
    """Every corpus case as its own `nao` process (forked from one interpreter: see cli_batch)."""
    root = tmp_path_factory.mktemp("corpus-cli")
    prepared = [(c, i, *materialize(c, root / i)) for c, i in zip(CASES, IDS, strict=True)]
    trees = {i: tree(root / i) for _c, i, _a, _l in prepared}
    work = root / "_batch"
    work.mkdir()
    results = run_batch([(argv, c.stdin) for c, _i, argv, _l in prepared], work, timeout=600)
    out = {}
    for (_c, i, _a, line), r in zip(prepared, results, strict=True):
        assert tree(root / i) == trees[i], f"{i}: partial output left behind"
        out[i] = (r, line, root / i)
    return out


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_input_through_the_cli(
    case: Case, request: pytest.FixtureRequest, cli_results: dict[str, tuple[Result, str, Path]]
) -> None:
    proc, line, _tmp = cli_results[request.node.callspec.id]
    assert proc.returncode == 2, proc.stderr
    _check_line(proc.stderr, line, case.exact)
    assert proc.stdout == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_outputs_into_a_read_only_folder_fail_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert main(["compile", "-o", str(locked / "p.yaml")]) == 2
        err = capsys.readouterr().err
        assert (
            err == f"nao: error: -o {locked}/p.yaml: cannot write in {locked} (Permission denied)\n"
        )
        assert main(["search", "--out", str(locked / "run")]) == 2
        assert "--out" in capsys.readouterr().err
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(stat.S_IRWXU)


def test_created_dir_removes_only_what_it_created(tmp_path: Path) -> None:
    from nao_kfp.errors import NaoError
    from nao_kfp.preflight import created_dir

    with pytest.raises(NaoError), created_dir(tmp_path / "a" / "b") as out:
        out.mkdir(parents=True)
        raise NaoError("bad data")
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    with pytest.raises(NaoError), created_dir(tmp_path / "kept") as out:
        (out / "x").write_text("earlier run")
        raise NaoError("bad data")
    assert (tmp_path / "kept" / "x").exists()
    with pytest.raises(KeyboardInterrupt), created_dir(tmp_path / "c") as out:
        out.mkdir()
        raise KeyboardInterrupt  # an interrupted run keeps its folder, to resume
    assert (tmp_path / "c").is_dir()


def test_a_search_without_s3_credentials_leaves_no_run_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("S3_ACCESS_KEY", raising=False)
    monkeypatch.setenv("S3_SECRET_KEY", "x")
    argv = ["search", "--set", "cluster.s3_endpoint=minio.nao:9000", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "nao: error: S3_ACCESS_KEY: environment variable not set; "
        "cluster.s3_endpoint 'minio.nao:9000' needs S3 credentials\n"
    )
    assert list(tmp_path.iterdir()) == []
