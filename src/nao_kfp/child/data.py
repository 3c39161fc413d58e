"""The data child networks read: image sets (loading, staging, the fixed dev split and
augmentation) and text corpora (the vocabulary, token streams cut into parallel batches).

Every image set becomes uint8 tensors (N×C×H×W) held in memory. `prepare_data` stages them once
into a single tensor file (`images-<dataset>.pt`), so that children never decode JPEGs or touch
the internet. Sources:
  digits        scikit-learn's 8×8 digits (ships with scikit-learn; no download). 1,797 images:
                a fixed 297 are the test set, the other 1,500 the training set.
  cifar10/100   torchvision's on-disk format under data_dir (downloaded there only when
                child.download is true), or an image-folder tree as below.
  image-folder  data_dir/train/<class>/* and data_dir/test/<class>/* (e.g. the CIFAR-10 JPEGs).
The dev set is child.dev_size training images chosen with a fixed seed (the same for every
child, so their dev accuracies are comparable). It is not clamped: a dev set (plus
child.train_subset) larger than the training set is a ConfigError naming the sizes (config/child.py
checks the built-in sets at load time; digits has 1,500 training images).
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nao_kfp import validate
from nao_kfp.child.ops import nchw
from nao_kfp.config import DATASETS, ChildConfig, Config, SupernetConfig
from nao_kfp.errors import ConfigError

DEV_SPLIT_SEED = 20180101  # fixed: every child of every search sees the same dev images
DIGITS_TEST = 297  # digits has no official test split; these many fixed images play that role
PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
EOS, UNK = "<eos>", "<unk>"  # a text corpus's end of line, and the word outside its vocabulary


@dataclass
class ImageSet:
    train_x: torch.Tensor  # uint8 N×C×H×W
    train_y: torch.Tensor  # int64 N
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: list[str]


@dataclass
class Split:
    """What a child trains and is judged on; x are float tensors normalized per channel."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    dev_x: torch.Tensor
    dev_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: int
    # per-channel statistics of the training images in [0, 1]: x_normalized = (x - mean) / std
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


def staged_file(dataset: str) -> str:
    return f"images-{dataset}.pt"


# ---------------------------------------------------------------- sources


def _digits_csv() -> Path:
    """scikit-learn's copy of the UCI digits (what sklearn.datasets.load_digits reads), found
    without importing scikit-learn: that import is seconds of every task that stages digits."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("child.dataset: digits needs scikit-learn (pip install scikit-learn)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"


def _digits() -> ImageSet:
    # as load_digits: 1797 rows of 64 pixel values (0-16) and the label
    with gzip.open(_digits_csv()) as f:
        rows = np.loadtxt(f, delimiter=",")
    images = rows[:, :-1].reshape(-1, 8, 8)
    x = torch.from_numpy(np.round(images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(rows[:, -1].astype(np.int64))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(DEV_SPLIT_SEED))
    test, train = perm[:DIGITS_TEST], perm[DIGITS_TEST:]
    return ImageSet(x[train], y[train], x[test], y[test], [str(i) for i in range(10)])


def _torchvision_cifar(dataset: str, root: Path, download: bool) -> ImageSet:
    from torchvision import datasets

    cls = datasets.CIFAR10 if dataset == "cifar10" else datasets.CIFAR100
    parts = []
    for train in (True, False):
        ds = cls(root=str(root), train=train, download=download)
        x = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        parts.append((x, torch.tensor(ds.targets, dtype=torch.int64)))
    return ImageSet(parts[0][0], parts[0][1], parts[1][0], parts[1][1], list(ds.classes))


def _image_folder(root: Path) -> ImageSet:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise ConfigError(f"child.data_dir: {root}/train has no class folders")
    parts = []
    for split in ("train", "test"):
        xs, ys = [], []
        for label, name in enumerate(classes):
            folder = root / split / name
            if not folder.is_dir():
                raise ConfigError(
                    f"child.data_dir: missing {folder} (expected {split}/<class>/ images)"
                )
            for f in sorted(folder.iterdir()):
                if f.suffix.lower() in IMAGE_EXTS:
                    try:
                        with Image.open(f) as im:
                            xs.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
                    except (OSError, Image.DecompressionBombError) as e:
                        # PIL's UnidentifiedImageError, a truncated file, an image past PIL's
                        # pixel limit; PIL's own message repeats the path, others say what
                        # went wrong
                        why = "" if isinstance(e, UnidentifiedImageError) else f" ({e})"
                        raise ConfigError(
                            f"child.data_dir: {f}: not a readable image{why}"
                        ) from None
                    ys.append(label)
        if not xs:
            raise ConfigError(f"child.data_dir: no images under {root / split}")
        sizes = {a.shape for a in xs}
        if len(sizes) != 1:
            raise ConfigError(
                f"child.data_dir: images under {root / split} differ in size: {sorted(sizes)[:3]}"
            )
        x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
        parts.append((x, torch.tensor(ys, dtype=torch.int64)))
    return ImageSet(parts[0][0], parts[0][1], parts[1][0], parts[1][1], classes)


def load_images(cfg: ChildConfig, cache_dir: Path | None = None) -> ImageSet:
    """The data set of cfg: a staged tensor file in data_dir when there is one, else its source."""
    staged = Path(cfg.data_dir) / staged_file(cfg.dataset) if cfg.data_dir else None
    if staged is not None and staged.is_file():
        d = torch.load(staged, weights_only=True)
        return ImageSet(d["train_x"], d["train_y"], d["test_x"], d["test_y"], list(d["classes"]))
    if cfg.dataset == "digits":
        return _digits()
    root = Path(cfg.data_dir) if cfg.data_dir else None
    if cfg.dataset in ("cifar10", "cifar100"):
        if root is not None and (root / "train").is_dir():
            return _image_folder(root)
        target = root or cache_dir
        if target is None:
            raise ConfigError(
                f"child.data_dir: required for {cfg.dataset} (or set child.download=true)"
            )
        try:
            return _torchvision_cifar(cfg.dataset, target, cfg.download)
        except OSError as e:  # the download failed (no network, a proxy, a full disk)
            raise ConfigError(
                f"child.download: could not fetch {cfg.dataset} into {target} ({e}); stage it "
                "there or as train/<class>/ folders under child.data_dir"
            ) from None
        except RuntimeError as e:  # torchvision: "Dataset not found or corrupted"
            raise ConfigError(
                f"child.data_dir: no {cfg.dataset} under {target} in torchvision's format or as "
                f"train/<class>/ folders, and child.download is false ({e})"
            ) from None
    if cfg.dataset == "image-folder":
        if root is None or not (root / "train").is_dir():
            raise ConfigError(
                f"child.data_dir: expected train/<class>/ and test/<class>/ folders, got {root}"
            )
        return _image_folder(root)
    raise ConfigError(f"child.dataset: {cfg.dataset!r} is not an image data set")


def prepare_data(cfg: ChildConfig, out_dir: Path) -> Path:
    """Stage the data set once into out_dir and return it; point ChildConfig.data_dir there."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.dataset == "ptb":
        src = Path(cfg.data_dir)
        for name in PTB_FILES:
            if not (src / name).is_file():
                raise ConfigError(
                    f"child.data_dir: {src} has no {name} (expected {', '.join(PTB_FILES)})"
                )
            if (src / name).resolve() != (out_dir / name).resolve():
                shutil.copyfile(src / name, out_dir / name)
        return out_dir
    target = out_dir / staged_file(cfg.dataset)
    if not target.is_file():
        data = load_images(cfg, cache_dir=out_dir / "download")
        tmp = target.with_suffix(".tmp")
        torch.save(
            {"train_x": data.train_x, "train_y": data.train_y, "test_x": data.test_x,
             "test_y": data.test_y, "classes": data.classes},
            tmp,
        )  # fmt: skip
        tmp.replace(target)
    return out_dir


# ---------------------------------------------------------------- dev split and normalization


def split(data: ImageSet, cfg: ChildConfig) -> Split:
    """Carve the fixed dev set from the training images; take train_subset of the rest."""
    n = len(data.train_y)
    dev = cfg.dev_size
    if dev >= n:
        raise ConfigError(
            f"child.dev_size: {dev} dev images leave none of the {n} training images to train on"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(DEV_SPLIT_SEED))
    dev_idx, train_idx = perm[:dev], perm[dev:]
    if cfg.train_subset:
        if cfg.train_subset > len(train_idx):
            raise ConfigError(
                f"child.train_subset: {cfg.train_subset} exceeds the {len(train_idx)} training images "
                f"left after the dev set"
            )
        train_idx = train_idx[: cfg.train_subset]
    x = data.train_x[train_idx].float().div_(255)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3)

    def norm(t: torch.Tensor) -> torch.Tensor:
        return (t.float().div(255) - mean) / std

    return Split(
        (x - mean) / std, data.train_y[train_idx],
        norm(data.train_x[dev_idx]), data.train_y[dev_idx],
        norm(data.test_x), data.test_y, len(data.classes),
        tuple(mean.flatten().tolist()), tuple(std.flatten().tolist()),
    )  # fmt: skip


# ---------------------------------------------------------------- augmentation


def augment(
    x: torch.Tensor, g: torch.Generator, *, pad: int, flip: bool, cutout: int
) -> torch.Tensor:
    """Random crop after zero padding, horizontal flip, cutout: per image, on a batch, drawn from
    `g` so that a seeded run is reproducible (and resumable: each epoch reseeds g)."""
    b, _c, h, w = x.shape
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (b,), generator=g)
        ox = torch.randint(0, 2 * pad + 1, (b,), generator=g)
        rows = (oy[:, None] + torch.arange(h))[:, :, None]  # b×h×1
        cols = (ox[:, None] + torch.arange(w))[:, None, :]  # b×1×w
        x = padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mask = torch.rand(b, generator=g) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    if cutout > 0:
        cy = torch.randint(0, h, (b, 1), generator=g)
        cx = torch.randint(0, w, (b, 1), generator=g)
        ys, xs = torch.arange(h)[None], torch.arange(w)[None]
        in_y = (ys >= cy - cutout // 2) & (ys < cy + cutout - cutout // 2)
        in_x = (xs >= cx - cutout // 2) & (xs < cx + cutout - cutout // 2)
        hole = in_y[:, :, None] & in_x[:, None, :]  # b×h×w
        x = x.masked_fill(hole[:, None], 0.0)
    return nchw(x)  # not .contiguous(): see nchw


# ---------------------------------------------------------------- text corpora (ptb)

MAX_CORPUS_BYTES = 1 << 30  # each of ptb.{train,valid,test}.txt (Penn Treebank's is 5 MB)


def read_corpus(data_dir: Path, max_vocab: int = 0) -> tuple[list[str], list[torch.Tensor]]:
    """Vocabulary (train-set words by frequency, ties by first use) and the three splits as ids."""
    texts = []
    for name in PTB_FILES:
        path = data_dir / name
        if not path.is_file():
            raise ConfigError(
                f"child.data_dir: {data_dir} has no {name} (expected {', '.join(PTB_FILES)})"
            )
        text = validate.read_text(path, f"child.data_dir: {path}", ConfigError, MAX_CORPUS_BYTES)
        texts.append([w for line in text.splitlines() for w in [*line.split(), EOS]])
    counts = Counter(texts[0])
    words = sorted(counts, key=lambda w: -counts[w])  # stable sort keeps first-use order on ties
    if max_vocab and len(words) > max_vocab:
        words = [w for w in words if w != UNK][: max_vocab - 1] + [UNK]
    if UNK not in words:
        words.append(UNK)
    index = {w: i for i, w in enumerate(words)}
    unk = index[UNK]
    ids = [torch.tensor([index.get(w, unk) for w in t], dtype=torch.int64) for t in texts]
    return words, ids


def corpus_batches(
    cfg: ChildConfig,
) -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor]:
    """child.data_dir's corpus as a child trains on it: the vocabulary, then the training
    (child.train_subset tokens, child.batch_size streams), validation and test streams."""
    r = cfg.rnn
    words, (train_ids, valid_ids, test_ids) = read_corpus(Path(cfg.data_dir), r.max_vocab)
    if cfg.train_subset:
        train_ids = train_ids[: cfg.train_subset]
    train = batchify(train_ids, cfg.batch_size)
    return (
        words,
        train,
        batchify(valid_ids, r.eval_batch_size),
        batchify(test_ids, r.eval_batch_size),
    )


def batchify(ids: torch.Tensor, batch: int) -> torch.Tensor:
    """Cut a token stream into `batch` parallel streams: T×batch."""
    steps = len(ids) // batch
    if steps < 2:
        raise ConfigError(
            f"child.batch_size: {batch} streams leave fewer than 2 tokens each ({len(ids)} tokens)"
        )
    return ids[: steps * batch].view(batch, steps).t().contiguous()


@dataclass
class Corpus:
    """Penn Treebank-format text as ids: the training stream cut into supernet.batch_size
    columns, the validation stream into supernet.eval_batch_size columns (T×B each)."""

    train: torch.Tensor
    valid: torch.Tensor
    vocab: int
    train_tokens: int


def load_corpus(child: ChildConfig, sn: SupernetConfig) -> Corpus:
    """child.data_dir's ptb.{train,valid,test}.txt (child.train_subset: the first that many
    training tokens; child.rnn.max_vocab) batched for the supernet."""
    words, (train_ids, valid_ids, _test) = read_corpus(Path(child.data_dir), child.rnn.max_vocab)
    if child.train_subset:
        train_ids = train_ids[: child.train_subset]
    return Corpus(
        batchify(train_ids, sn.batch_size), batchify(valid_ids, sn.eval_batch_size), len(words),
        len(train_ids),
    )  # fmt: skip


def load_split(child_cfg: ChildConfig) -> Split:
    """The child section's image data set with its fixed dev split."""
    return split(load_images(child_cfg), child_cfg)


def load_data(cfg: Config, child_cfg: ChildConfig | None = None) -> Split | Corpus:
    """What the supernet of cfg's space trains and scores on: the image split, or for a text
    data set the corpus batched for the supernet (rnn_supernet_train.py)."""
    child = child_cfg or cfg.child
    if DATASETS[child.dataset] == "text":
        return load_corpus(child, cfg.supernet)
    return load_split(child)
