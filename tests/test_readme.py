"""Every command the README and the user guide show runs, as written, in the order a user runs them.

The documents are README.md, then the guide's pages (docs/**/*.md) in the order of mkdocs.yml's
nav, the order a user reads them in. The commands are their fenced ```bash blocks, read at test
time: a line is one command (a trailing `\\` continues it, a here-document goes with its
command), a line starting with `#` is prose. They run one after another in one scratch folder,
the user's clone: each block starts there and a `cd` holds until the block ends. A command
added to the documents is run from then on; one that cannot run here must be listed in SKIP
with the reason, and one that needs a file the documents do not make gets it from FIXTURES.

Adding a command to the documents? If it runs here on small data in a few seconds, nothing to
do. Otherwise, in this file and nowhere else:
  FIXTURES      files a command reads that no earlier command writes (the user's own data),
  PLACEHOLDERS  `<name>` parts of a command that the user fills in, and how the test does,
  SKIP          the exact command text (comment excluded) -> why it cannot run here: a cluster,
                a GPU, big data, an image build. Stale entries fail the test.
A `python` command that does not name nao_kfp (nor run a script of benchmarks/) runs with the
package unimportable: what the documents show needing only torch must need only torch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _nav_pages(nav: object) -> list[str]:
    """The page files of an mkdocs.yml nav, in order."""
    if isinstance(nav, str):
        return [nav] if nav.endswith(".md") else []
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    return []


def guide_pages() -> list[Path]:
    """The guide's written pages in the nav's order (the reference pages the docs build
    generates have no file; tests/test_docs.py checks that the nav names every written page)."""
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    return [ROOT / "docs" / p for p in _nav_pages(nav) if (ROOT / "docs" / p).is_file()]


DOCUMENTS = [ROOT / "README.md", *guide_pages()]
REPO_COPIES = ["manifests", "benchmarks"]  # what the documents' commands read from the clone itself

CLUSTER = "needs a Kubeflow cluster"
IMAGE = "builds or runs the container image: root, podman, minutes (.ci/image runs it in CI)"
INSTALL = "installs the project: these tests run in the installed environment"
BIG_DATA = (
    "the complete NAS-Bench-201 tables or CIFAR-10/PTB (not shipped) and many seeds: CPU-hours"
)
SKIP = {
    "make search": "runs `nao search` (docs/get-started.md: nao search --out runs/demo runs it here)",
    "make test": "the test suite itself",
    "make venv": INSTALL,
    "source .venv/bin/activate": INSTALL,
    "python benchmarks/bench_nb201_levers.py --table <table.csv> --only recipe,no-proxy-seed --queries 25,50,100,200 --seeds 0-29": BIG_DATA,
    "nao benchmark --space nb201 --table <table.csv> --config nb201 --queries 25,50,100,200 --seeds 0-29": BIG_DATA,
    "python benchmarks/bench_nb201_levers.py --table <table.csv> --seeds 0-9": BIG_DATA,
    "python benchmarks/bench_nb201_levers.py --table <table.csv> --only recipe,warm-2-steps --queries 25,50,100,200 --seeds 0-29": BIG_DATA,
    "nao benchmark --space nb201 --table <table.csv> --config nb201 --prior <prior.jsonl> --strategy nao,evolution --queries 25,50,100 --seeds 0-29": BIG_DATA,
    "python benchmarks/bench_supernet.py nb201 --data <cifar10-jpegs> --layers 1 --channels 8 --bn running --proxies synflow,params": BIG_DATA,
    "python benchmarks/bench_ws_nb201.py --data <cifar10-jpegs> --seeds 0 --paths native,default --threads 2": BIG_DATA,
    "python benchmarks/bench_ws_nb201.py --data <cifar10-jpegs> --seeds 0,1 --paths native --threads 2": BIG_DATA,
    "python benchmarks/bench_rnn_supernet.py --data <ptb> --seeds 0,1": BIG_DATA,
    "python benchmarks/bench_gpu.py": "a GPU (12 minutes on one)",
    "git clone https://github.com/renqianluo/NAO_pytorch /tmp/NAO_pytorch": "the internet (the official NAO code)",
    "python benchmarks/bench_controller.py --against-official /tmp/NAO_pytorch --official-epochs 200": "the official NAO code's checkout (not shipped) and 4 CPU-minutes",
    "python benchmarks/bench_controller.py --against-official /tmp/NAO_pytorch --eval-every 25": "the official NAO code's checkout (not shipped) and 15 CPU-minutes",
    "python benchmarks/bench_controller.py --mode paper --seed 0": "about 40 CPU-minutes (the paper's 1,000 controller epochs)",
    "python benchmarks/bench_controller.py --mode fast --seed 0": "about 2 CPU-minutes on 1,200 architectures: a benchmark, not a check",
    "python benchmarks/bench_local_rounds.py --rounds 50 --table <table.csv>": BIG_DATA,
    "python benchmarks/bench_serve.py --threads 1": "about 6 CPU-minutes (two AOTInductor compiles, 4,800 timed requests): a benchmark, not a check",
    "nao submit --host http://localhost:8080 --experiment nao --run-name demo-1 --config demo": CLUSTER,
    "kfp --endpoint http://localhost:8080 run create -e nao -r demo-1 -f pipeline.yaml": CLUSTER,
    "nao search --config nao-ws-cifar10 --set child.data_dir=/data/cifar10": "a GPU and CIFAR-10",
    "nao search --config nao-ws-nb201 --set child.data_dir=/data/cifar10": "a GPU and CIFAR-10",
    "nao search --config nao-ws-nb201-cpu --set child.data_dir=/data/cifar10": "CIFAR-10, ~50 minutes on 2 cores",
    "nao search --config nao-ws-ptb-cpu --set child.data_dir=/data/ptb": "Penn Treebank, ~30 CPU minutes",
    "nao search --config nao-ws-ptb --set child.data_dir=/data/ptb": "a GPU and Penn Treebank",
    "docker build -t ghcr.io/nao-kfp/nao-kfp:$VERSION -f images/Dockerfile .": IMAGE,
    "docker build -t ghcr.io/nao-kfp/nao-kfp:$VERSION-cpu -f images/Dockerfile.cpu .": IMAGE,
    "docker push ghcr.io/nao-kfp/nao-kfp:$VERSION": "needs a registry",
    "images/build.sh": IMAGE,
    "NAO_IMAGE=registry.internal/nao-kfp:0.1.0-cpu images/build.sh && podman push registry.internal/nao-kfp:0.1.0-cpu": IMAGE,
    ".venv/bin/python images/run_in_image.py --image localhost/nao-kfp:0.1.0-cpu --out build/image-run": IMAGE,
    "cd - && kubectl apply -k manifests/overlays/local": CLUSTER,
    "kubectl apply -k manifests/overlays/local": CLUSTER,
    "kubectl -n nao wait --for=condition=complete job/nao-store-create-bucket --timeout=300s": CLUSTER,
    "kubectl apply -k manifests/overlays/serving": CLUSTER,
    "kubectl apply -n nao -f inference-service.yaml": CLUSTER,
    "kubectl apply -k manifests/katib": "needs a Kubeflow cluster with Katib",
    "kubectl -n nao get experiment nao-nb201 -w": "needs a Kubeflow cluster with Katib",
    "kubectl -n nao get experiment nao-nb201 -o jsonpath='{.status.currentOptimalTrial}'": "needs a Kubeflow cluster with Katib",
}  # fmt: skip


def _archs_txt(work: Path) -> str:
    import random

    from nao_kfp.spaces import get_space

    space = get_space("nasnet")
    return "".join(space.to_string(a) + "\n" for a in space.sample_unique(3, random.Random(0)))


def _nb201_csv(work: Path) -> str:
    """A 300-row NAS-Bench-201 table whose accuracy grows with the convolutions of a cell."""
    import random

    from nao_kfp.spaces import get_space

    space, rng = get_space("nb201"), random.Random(0)
    rows = ["arch,valid,test"]
    for arch in space.sample_unique(300, rng):
        text = space.to_string(arch)
        valid = 60 + 4 * text.count("conv_3x3") + 2 * text.count("conv_1x1") + rng.random()
        rows.append(f"{text},{valid:.2f},{valid - rng.random():.2f}")
    return "\n".join(rows) + "\n"


# file -> its content, or a function of the scratch folder that returns it
FIXTURES: dict[str, str | Callable[[Path], str]] = {
    "archs.txt": _archs_txt,
    "nb201.csv": _nb201_csv,
}


def _best_id(work: Path) -> str:
    return str(json.loads((work / "runs/demo/result.json").read_text())["best"]["id"])


def _child_digest(work: Path) -> str:
    (digest,) = [p.name for p in (work / "runs/demo/store/checkpoints/enas").iterdir()]
    return digest


PLACEHOLDERS: dict[str, Callable[[Path], str]] = {"<id>": _best_id, "<digest>": _child_digest}

# What a command's output must show beyond exit status 0 (a regular expression on stdout).
EXPECT = {
    "nao export": r'"package": "model/model.aoti.pt2".*"program": "model/model.pt2"',
    "curl -s -H 'content-type: application/json' -d @request.json": r'"name": ?"logits"',
    "curl -s --retry 60": r'"name": ?"pixels"',
    "python -c \"import torch; m = torch.export.load('model/model.pt2')": r"^tensor\(\[",
    "nao search --out runs/demo": r"best: dev accuracy",
    "nao train-child --katib": r"(?m)^\S+ dev_accuracy=0\.\d+$",
    "nao katib check": r"nao-nb201: nb201 architectures as parameter arch",
}
# seconds, by the start of a command; the others get TIMEOUT_S (limits for a busy machine: the
# NAO-WS search takes about 100 CPU-seconds)
SLOW = {
    "nao search --out runs/demo": 1200,
    "nao search --config demo --set evaluator.kind=supernet": 900,
}
TIMEOUT_S = 300
# Blocks that read what another block wrote, named by a command of each: a block joins the chain
# of the block it reads from, any other block is a chain of its own. pytest-xdist (`make test`,
# tests/conftest.py) runs each chain on one worker, in order, and different chains side by side.
READS = {
    "nao export --checkpoint runs/demo/": "nao search --out runs/demo",
    "nao serve model/": "nao export --checkpoint runs/demo/",
    # (the requests go to the server the block before started)
    "curl -s -H 'content-type: application/json' -d @request.json": "nao serve model/",
    "kill $(cat serve.pid)": "nao serve model/",
    "nao controller fit --config demo --train runs/demo/": "nao search --out runs/demo",
}


# ---------------------------------------------------------------- reading the documents


@dataclass(frozen=True)
class Command:
    where: str  # file:line
    block: int  # commands of one block share their working folder
    text: str  # as written, comment and all
    key: str  # without its trailing comment: what SKIP, EXPECT and SLOW name

    def __str__(self) -> str:
        return f"{self.where} {self.key[:60]}"


_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")


def _uncommented(text: str) -> str:
    """The command without its trailing comment: a `#` after a blank, outside quotes."""
    quote, out = "", []
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            break
        out.append(ch)
    return "".join(out).strip()


def read_commands(paths: list[Path] = DOCUMENTS) -> list[Command]:
    commands, block = [], 0
    for path in paths:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            fence = _FENCE.match(lines[i])
            i += 1
            if not fence or not fence.group(2):
                continue
            indent, body = len(fence.group(1)), []
            while lines[i].strip() != "```":
                body.append((i + 1, lines[i][indent:]))
                i += 1
            i += 1
            if fence.group(2) not in ("bash", "sh", "shell"):
                continue
            block += 1
            j = 0
            while j < len(body):
                lineno, line = body[j]
                j += 1
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                key = _uncommented(line).removesuffix("\\")
                while line.endswith("\\"):
                    line += "\n" + body[j][1]
                    key += " " + _uncommented(body[j][1]).removesuffix("\\")
                    j += 1
                for tag in _HEREDOC.findall(line):
                    while body[j][1].strip() != tag:
                        line += "\n" + body[j][1]
                        j += 1
                    line += "\n" + body[j][1]
                    j += 1
                where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{lineno}"
                commands.append(Command(where, block, line, " ".join(key.split())))
    return commands


COMMANDS = read_commands()


def chains(commands: list[Command]) -> dict[int, str]:
    """block -> the name of its chain (READS): the first command of the chain's first block."""
    first = {c.block: c for c in reversed(commands)}
    of: dict[int, str] = {}
    for block in sorted(first):
        reads = [r for c in commands if c.block == block for k, r in READS.items()
                 if c.key.startswith(k)]  # fmt: skip
        source = [c.block for c in commands for r in reads if c.key.startswith(r)]
        of[block] = of[source[0]] if source else f"readme:{first[block].where}"
    return of


CHAINS = chains(COMMANDS)


def chain_of(nodeid: str) -> str | None:
    """The chain of test_the_documented_command_runs[<where> ...]'s command, else None."""
    test, _, param = nodeid.partition("::test_the_documented_command_runs[")
    where = param.split(" ", 1)[0]
    found = [c for c in COMMANDS if c.where == where] if test.endswith("test_readme.py") else []
    return CHAINS[found[0].block] if found else None


# ---------------------------------------------------------------- running them


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The user's clone: the repository files the commands read, the fixtures, and the
    working folder each block's commands share."""
    work = tmp_path_factory.mktemp("clone")
    for name in REPO_COPIES:
        shutil.copytree(ROOT / name, work / name)
    for name, content in FIXTURES.items():
        (work / name).write_text(content if isinstance(content, str) else content(work))
    # `import nao_kfp` fails where this folder leads the path
    blocker = tmp_path_factory.mktemp("no-nao-kfp") / "nao_kfp"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('nao_kfp is not installed here')\n")
    return {"work": work, "blocker": blocker.parent, "cwd": work, "block": 0}


def _env(command: Command, blocker: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "NAO_", "PYTHON"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    # (the project's own scripts, benchmarks/*.py, use the package)
    own_script = command.text.startswith("python benchmarks/")
    if command.key.startswith("python") and "nao_kfp" not in command.text and not own_script:
        env["PYTHONPATH"] = str(blocker)
    return env


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_the_documented_command_runs(command: Command, clone: dict[str, object]) -> None:
    work = Path(str(clone["work"]))
    if clone["block"] != command.block:  # a block starts in the clone's root
        clone["block"], clone["cwd"] = command.block, work
    if command.key in SKIP:
        pytest.skip(SKIP[command.key])
    text = command.text
    for name, fill in PLACEHOLDERS.items():
        if name in text:
            text = text.replace(name, fill(work))
    state = work.parent / f"{work.name}.cwd"
    script = f'set -o pipefail\ncd "{clone["cwd"]}"\n{text}\nrc=$?\npwd > "{state}"\nexit $rc\n'
    proc = subprocess.run(
        ["bash", "-c", script],
        env=_env(command, Path(str(clone["blocker"]))),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=next((s for k, s in SLOW.items() if command.key.startswith(k)), TIMEOUT_S),
    )
    clone["cwd"] = Path(state.read_text().strip())
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for prefix, pattern in EXPECT.items():
        if command.key.startswith(prefix):
            assert re.search(pattern, proc.stdout, re.M), f"{command}: {proc.stdout[-2000:]}"


# ---------------------------------------------------------------- the lists stay true


def test_every_list_entry_names_a_documented_command() -> None:
    keys = {c.key for c in COMMANDS}
    texts = "\n".join(c.text for c in COMMANDS)
    assert not set(SKIP) - keys, (
        f"SKIP names commands the documents no longer show: {set(SKIP) - keys}"
    )
    for table in (EXPECT, SLOW, READS, {v: k for k, v in READS.items()}):
        stale = [k for k in table if not any(key.startswith(k) for key in keys)]
        assert not stale, f"no documented command starts with {stale}"
    assert all(name in texts for name in PLACEHOLDERS), "a placeholder is no longer used"
    for name in FIXTURES:
        assert re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w-])", texts), name


def test_the_reader_splits_blocks_into_commands(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        textwrap.dedent(
            """\
            ```bash
            # prose
            a --x 'y # not a comment'   # a comment
            b \\
              --c d
            cat > f <<'EOF'
            x: 1   # kept
            EOF
            ```
            ```yaml
            not: a command
            ```
              ```bash
              e
              ```
            """
        )
    )
    got = read_commands([doc])
    assert [c.key for c in got] == ["a --x 'y # not a comment'", "b --c d", "cat > f <<'EOF'", "e"]
    assert got[1].text == "b \\\n  --c d"
    assert got[2].text == "cat > f <<'EOF'\nx: 1   # kept\nEOF"
    assert [c.block for c in got] == [1, 1, 1, 2] and len(read_commands([doc, doc])) == 8
