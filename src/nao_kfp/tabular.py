"""Tabular benchmark mode: "training a child" is a lookup in a CSV table.

Table format (CSV with a header row):

    arch      required  the space's native string (nb201: the standard NAS-Bench-201 string)
    valid     required  accuracy the search sees
    test      optional  accuracy that is only reported, never shown to a strategy
    seconds   optional  simulated training cost of the architecture
    params    optional  the network's parameter count (search.max_params budgets use it)

Accuracy units: a table is either all fractions in [0, 1] or all percentages in [0, 100]. The
units are decided once per table over `valid` and `test` together (any value above 1 means
percent); a percentage table with a value in (0, 1] is taken for a mix of units and rejected at
that value's line (0 reads the same in both). Rows are stored and reported in percent.

A table may hold only a sample of the space (the shared 725-cell NAS-Bench-201 table does), so
strategies ask `available(arch)` before they query. Every evaluation of a new architecture is a
query; repeating one is free and not counted.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nao_kfp import validate
from nao_kfp.errors import ArchError, NaoError, shorten, shown
from nao_kfp.spaces import Arch, SearchSpace

COLUMNS = ("arch", "valid", "test", "seconds", "params")
# NAS-Bench-201's 15,625 cells are 2 MB as a table; NAS-Bench-101's 423,624 about 100 MB.
MAX_TABLE_BYTES = 1 << 29
MAX_NUMBER = 100  # characters of one number
REQUIRED = ("arch", "valid")


class TableError(NaoError):
    """A table file or row is malformed (message starts with file:line)."""


class BudgetExhausted(RuntimeError):
    """A strategy queried past its budget: a bug in the strategy, not a user error."""


@dataclass(frozen=True)
class Row:
    arch: Arch
    id: str
    valid: float  # percent
    test: float | None = None  # percent
    seconds: float | None = None
    params: int | None = None


@dataclass
class Table:
    space: SearchSpace[Arch]
    rows: list[Row]
    source: str = "<memory>"
    units: str = "percent"  # how the file stored accuracies; rows are always percent
    _by_id: dict[str, Row] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {r.id: r for r in self.rows}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def has_test(self) -> bool:
        return any(r.test is not None for r in self.rows)

    def get(self, arch: Arch) -> Row | None:
        return self._by_id.get(self.space.canonical_id(arch))

    def get_id(self, arch_id: str) -> Row | None:
        return self._by_id.get(arch_id)

    def digest(self) -> str:
        """Content hash (row order ignored), so results can name the table they came from."""
        h = hashlib.sha256()
        for r in sorted(self.rows, key=lambda r: r.id):
            h.update(f"{r.id},{r.valid!r},{r.test!r},{r.seconds!r}\n".encode())
        return h.hexdigest()[:16]

    def best(self, key: str = "valid") -> Row:
        return max(self.rows, key=lambda r: getattr(r, key) or -math.inf)


# ---------------------------------------------------------------- reading and writing

_Reader = Iterator[list[str]]  # csv.reader's type is private


def _number(text: str, where: str, column: str) -> float:
    if len(text) > MAX_NUMBER:
        raise TableError(
            f"{where}: {column}: a number of {len(text)} characters; expected at most {MAX_NUMBER}"
        )
    try:
        value = float(text)
    except ValueError:
        raise TableError(f"{where}: {column}: expected a number, got {shown(text)}") from None
    if not math.isfinite(value):
        raise TableError(f"{where}: {column}: expected a finite number, got {text!r}")
    return value


def read_table(path: str | Path, space: SearchSpace[Arch]) -> Table:
    """Read and check a table; every problem names `file:line: column: ...`."""

    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: no such table file")
    if path.is_dir():
        raise TableError(f"{path}: is a folder; expected a table file (CSV)")
    text = validate.read_text(path, str(path), TableError, MAX_TABLE_BYTES)
    reader = csv.reader(io.StringIO(text))
    try:
        return _read_rows(path, reader, space)
    except csv.Error as e:  # a field past csv's limit, a NUL byte
        raise TableError(f"{path}:{reader.line_num}: not a CSV row ({e})") from None


def _read_rows(path: Path, reader: _Reader, space: SearchSpace[Arch]) -> Table:
    header = next(reader, None)
    if header is None:
        raise TableError(
            f"{path}:1: empty file; expected a header with columns {', '.join(REQUIRED)}"
        )
    header = [h.strip() for h in header]
    for name in REQUIRED:
        if name not in header:
            raise TableError(
                f"{path}:1: missing column {name!r} (header: {shorten(','.join(header), 120)})"
            )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise TableError(
            f"{path}:1: unknown column {shown(unknown[0], 60)}; expected some of {', '.join(COLUMNS)}"
        )
    col = {h: i for i, h in enumerate(header)}
    raw: list[tuple[int, Arch, str, float, float | None, float | None, int | None]] = []
    first_line: dict[str, int] = {}
    for lineno, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        where = f"{path}:{lineno}"
        if len(cells) != len(header):
            raise TableError(f"{where}: expected {len(header)} columns, got {len(cells)}")
        try:
            arch = space.parse(cells[col["arch"]])
        except ArchError as e:
            raise TableError(f"{where}: arch: {e}") from None
        cid = space.canonical_id(arch)
        if cid in first_line:
            raise TableError(f"{where}: arch: duplicate of line {first_line[cid]}")
        first_line[cid] = lineno
        valid = _number(cells[col["valid"]], where, "valid")
        test = _optional(cells, col, "test", where)
        seconds = _optional(cells, col, "seconds", where)
        if seconds is not None and seconds < 0:
            raise TableError(f"{where}: seconds: expected a non-negative number, got {seconds}")
        params = _optional(cells, col, "params", where)
        if params is not None and (params < 0 or params != int(params)):
            raise TableError(f"{where}: params: expected a non-negative integer, got {params}")
        raw.append(
            (lineno, arch, cid, valid, test, seconds, None if params is None else int(params))
        )
    if not raw:
        raise TableError(f"{path}: no rows after the header")
    accs = [(acc, r[0], name) for r in raw
            for name, acc in (("valid", r[3]), ("test", r[4])) if acc is not None]  # fmt: skip
    percent = next(((acc, line) for acc, line, _c in accs if acc > 1.0), None)
    units = "percent" if percent else "fraction"
    scale = 1.0 if units == "percent" else 100.0
    if percent is not None:
        # A percent table may hold values <= 1: cells at chance level on a many-class data set
        # (1.0 on CIFAR-100, 0.83 on ImageNet16-120). A value is a stray fraction only when,
        # read as one, it lands inside the range of the table's percentages.
        above = [acc for acc, _line, _c in accs if acc > 1.0]
        low, high = min(above), max(above)
        for acc, line, column in accs:
            if 0.0 < acc <= 1.0 and low <= acc * 100.0 <= high:
                raise TableError(
                    f"{path}:{line}: {column}: {acc} looks like a fraction but line {percent[1]} "
                    f"has a percentage ({percent[0]}); expected one unit for the whole table "
                    "(all 0..1 or all 0..100)"
                )
    rows = []
    for lineno, arch, cid, valid, test, seconds, params in raw:
        for name, v in (("valid", valid), ("test", test)):
            if v is not None and not 0.0 <= v * scale <= 100.0:
                raise TableError(
                    f"{path}:{lineno}: {name}: {v} is out of range for a table in {units} "
                    f"(expected {'0..100' if units == 'percent' else '0..1'})"
                )
        test_pct = None if test is None else test * scale
        rows.append(Row(arch, cid, valid * scale, test_pct, seconds, params))
    return Table(space, rows, source=str(path), units=units)


def _optional(cells: list[str], col: dict[str, int], name: str, where: str) -> float | None:
    if name not in col or not cells[col[name]].strip():
        return None
    return _number(cells[col[name]], where, name)


def write_table(path: str | Path, table: Table) -> None:
    """Write in percent, with `test` / `seconds` columns only when some row has them."""
    cols = ["arch", "valid"]
    if table.has_test:
        cols.append("test")
    if any(r.seconds is not None for r in table.rows):
        cols.append("seconds")
    if any(r.params is not None for r in table.rows):
        cols.append("params")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in table.rows:
            values = {
                "arch": table.space.to_string(r.arch),
                "valid": r.valid,
                "test": r.test,
                "seconds": r.seconds,
                "params": r.params,
            }
            w.writerow(["" if values[c] is None else values[c] for c in cols])


# ---------------------------------------------------------------- synthetic tables


@dataclass(frozen=True)
class TableSpec:
    """A deterministic synthetic table: accuracy is a smooth function of the tokens (per-token
    effects plus neighbouring-token interactions, drawn from `seed`), so search strategies have
    real structure to exploit, plus seeded noise between `valid` and `test`."""

    seed: int = 0
    rows: int = 300  # architectures in the table (a sample of the space, like the shared table)
    low: float = 60.0  # accuracy range in percent
    high: float = 94.0
    interaction: float = 0.5  # weight of pairwise token interactions against per-token effects
    valid_noise: float = 0.3  # percent
    test_noise: float = 0.2  # percent; test = valid + noise
    seconds: float = 60.0  # mean simulated training cost


def generate_table(space: SearchSpace[Arch], spec: TableSpec) -> Table:
    rng = random.Random(f"table:{space.name}:{spec.seed}")
    unary = [[rng.gauss(0.0, 1.0) for _ in range(space.vocab_size)] for _ in range(space.seq_len)]
    pair = [
        [
            [rng.gauss(0.0, spec.interaction) for _ in range(space.vocab_size)]
            for _ in range(space.vocab_size)
        ]
        for _ in range(space.seq_len - 1)
    ]
    archs = space.sample_unique(spec.rows, rng)

    def score(arch: Arch) -> float:
        t = space.encode(arch)
        s = sum(unary[p][tok] for p, tok in enumerate(t))
        s += sum(pair[p][t[p]][t[p + 1]] for p in range(len(t) - 1))
        return s / math.sqrt(space.seq_len)

    scores = [score(a) for a in archs]
    lo, hi = min(scores), max(scores)
    rows = []
    for arch, s in zip(archs, scores, strict=True):
        # a concave map keeps most architectures mediocre and a few near the top, as in real tables
        u = ((s - lo) / (hi - lo or 1.0)) ** 0.5
        valid = spec.low + (spec.high - spec.low) * u + rng.gauss(0.0, spec.valid_noise)
        test = valid + rng.gauss(0.0, spec.test_noise)
        cost = spec.seconds * (0.5 + u + 0.1 * rng.random())
        rows.append(Row(arch, space.canonical_id(arch), _clip(valid), _clip(test), round(cost, 2)))
    return Table(space, rows, source=f"generated(seed={spec.seed}, rows={spec.rows})")


def _clip(v: float) -> float:
    return round(min(100.0, max(0.0, v)), 2)


# ---------------------------------------------------------------- the evaluator


@dataclass(frozen=True)
class Query:
    index: int  # 1-based: the n-th distinct architecture evaluated
    arch: str
    id: str
    valid: float
    test: float | None
    source: str


class TabularEvaluator:
    """Answers queries from a table and counts them against a budget."""

    def __init__(self, table: Table, budget: int):
        self.table = table
        self.space = table.space
        self.budget = budget
        self.history: list[Query] = []
        self._seen: dict[str, Query] = {}

    @property
    def used(self) -> int:
        return len(self.history)

    @property
    def remaining(self) -> int:
        return self.budget - len(self.history)

    @property
    def seen_ids(self) -> set[str]:
        return set(self._seen)

    def available(self, arch: Arch) -> bool:
        """In the table (whether queried or not)."""
        return self.table.get(arch) is not None

    def is_new(self, arch: Arch) -> bool:
        """In the table and not queried yet: querying it costs one query."""
        return self.available(arch) and self.space.canonical_id(arch) not in self._seen

    def query(self, arch: Arch, source: str = "") -> Query:
        row = self.table.get(arch)
        if row is None:
            raise ArchError(f"{self.space.name}: {self.space.to_string(arch)} is not in the table")
        if row.id in self._seen:
            return self._seen[row.id]
        if self.remaining <= 0:
            raise BudgetExhausted(f"budget of {self.budget} queries is spent")
        q = Query(
            len(self.history) + 1,
            self.space.to_string(row.arch),
            row.id,
            row.valid,
            row.test,
            source,
        )
        self.history.append(q)
        self._seen[row.id] = q
        return q

    def unseen_rows(self) -> list[Row]:
        return [r for r in self.table.rows if r.id not in self._seen]
