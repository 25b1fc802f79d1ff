"""Face data: identity folders decoded once into compact uint8 tensors.

One reader (`read_identity_folder`) serves LFW, a VGGFace2 subset prepared with
`unsir prepare`, or a user's own folder laid out as ``root/<identity>/*.jpg``.
"""
from __future__ import annotations

import hashlib
import os
import random
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from platformdirs import user_cache_dir
from torch.utils.data import Dataset
from torchvision.transforms import v2

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".bmp"}
# Above this many photos an identity folder is streamed from disk (decoded in DataLoader workers)
# instead of decoded into one uint8 tensor: 200,000 photos at 64 px already take 2.5 GB of RAM,
# VGGFace2's 3.3 million 41 GB.
STREAMING_THRESHOLD = 200_000
# Normalisation applied to every model input; the noise of UNSIR lives in this space.
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
# LFW's 250x250 deep-funneled photos hold the face in the central half.
LFW_FACE_CROP = 0.5
LFW_MISSING_HELP = (
    "Point SCIKIT_LEARN_DATA (or --data-home) at a folder holding lfw_home/lfw_funneled, "
    "e.g. ../shared/data/scikit_learn_data on the development machines; on a machine with "
    "internet access scikit-learn downloads it there."
)


class DataError(ValueError):
    """A dataset that cannot be used, with a message a person can act on."""


@dataclass
class FaceSet:
    """Images of identities as uint8 tensors; `labels` index into `names`."""

    images: torch.Tensor  # uint8 [N, 3, H, W]
    labels: torch.Tensor  # int64 [N]
    names: list[str]  # identity names in class order
    sources: list[str] = field(default_factory=list)  # relative path of each image

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, indices) -> FaceSet:
        indices = torch.as_tensor(indices, dtype=torch.long)
        sources = [self.sources[i] for i in indices.tolist()] if self.sources else []
        return FaceSet(self.images[indices], self.labels[indices], self.names, sources)

    def of_classes(self, classes) -> FaceSet:
        mask = torch.isin(self.labels, torch.as_tensor(list(classes), dtype=torch.long))
        return self.subset(mask.nonzero().flatten())

    def without_classes(self, classes) -> FaceSet:
        mask = ~torch.isin(self.labels, torch.as_tensor(list(classes), dtype=torch.long))
        return self.subset(mask.nonzero().flatten())


@dataclass
class Split:
    train: FaceSet
    test: FaceSet
    fingerprint: str  # of the file list the images came from
    skipped: list[str] = field(default_factory=list)  # unreadable files

    @property
    def names(self) -> list[str]:
        return self.train.names


def normalise(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N,3,H,W] -> float model input (the last two steps of FaceTensors' transform)."""
    return v2.functional.normalize(v2.functional.to_dtype(images_u8, torch.float32, scale=True), MEAN, STD)


def denormalise(inputs: torch.Tensor) -> torch.Tensor:
    """Model input -> float image in [0, 1] (for display)."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (inputs * std + mean).clamp(0, 1)


class PhotoFiles:
    """Photos on disk standing in for FaceSet.images (uint8 [N, 3, S, S]), decoded on access.

    An int or a slice decodes those photos; a list or tensor of indices selects photos without
    decoding any (FaceSet.subset), so splits and retain subsets stay lists of files.
    """

    dtype = torch.uint8

    def __init__(self, root: Path, relative: list[str], image_size: int, crop: float):
        self.root, self.relative, self.image_size, self.crop = root, relative, image_size, crop

    def __len__(self) -> int:
        return len(self.relative)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), 3, self.image_size, self.image_size))

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            path = self.root / self.relative[index]
            try:
                # a copy: the decoded array is a read-only view of Pillow's buffer
                return torch.from_numpy(_decode(path, self.image_size, self.crop).copy())
            except (OSError, UnidentifiedImageError, ValueError) as error:
                raise DataError(f"{path} could not be decoded ({error}); remove it and train again.") from error
        if isinstance(index, slice):
            photos = [self[i] for i in range(*index.indices(len(self)))]
            return torch.stack(photos) if photos else torch.zeros((0, *self.shape[1:]), dtype=torch.uint8)
        chosen = torch.as_tensor(index, dtype=torch.long).tolist()
        return PhotoFiles(self.root, [self.relative[i] for i in chosen], self.image_size, self.crop)


class FaceTensors(Dataset):
    """A FaceSet as (model input, label) pairs, optionally augmented."""

    def __init__(self, faces: FaceSet, augment: bool = False):
        self.faces = faces
        size = faces.image_size
        steps = [v2.RandomHorizontalFlip(), v2.RandomCrop(size, padding=size // 16, padding_mode="reflect")] if augment else []
        self.transform = v2.Compose(
            [*steps, v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
        )

    def __len__(self) -> int:
        return len(self.faces)

    @property
    def decodes_from_disk(self) -> bool:
        """True for streamed photos: a DataLoader should decode them in worker processes."""
        return isinstance(self.faces.images, PhotoFiles)

    def __getitem__(self, index: int):
        # A tensor label, like TensorDataset's, so UNSIR's noise and photos collate together.
        return self.transform(self.faces.images[index]), self.faces.labels[index]


class WithOutputs(Dataset):
    """Each (input, label) of `dataset` with its row of `outputs`, e.g. a teacher's outputs computed once."""

    def __init__(self, dataset: Dataset, outputs: torch.Tensor):
        if len(dataset) != len(outputs):
            raise ValueError(f"{len(outputs)} outputs for {len(dataset)} examples")
        self.dataset, self.outputs = dataset, outputs
        self.decodes_from_disk = getattr(dataset, "decodes_from_disk", False)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        inputs, label = self.dataset[index]
        return inputs, label, self.outputs[index]


# --- locating data ------------------------------------------------------------------


def data_home(path: str | os.PathLike | None = None) -> Path:
    """scikit-learn's data home: `path`, else $SCIKIT_LEARN_DATA, else ~/scikit_learn_data."""
    path = path or os.environ.get("SCIKIT_LEARN_DATA") or Path.home() / "scikit_learn_data"
    return Path(path).expanduser()


def lfw_root(home: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The LFW identity folders, downloaded with scikit-learn's fetcher when missing."""
    root = data_home(home) / "lfw_home" / "lfw_funneled"
    if root.is_dir():
        return root
    if not download:
        raise DataError(f"LFW is not under {root}. {LFW_MISSING_HELP}")
    from sklearn.datasets import fetch_lfw_people

    try:
        fetch_lfw_people(data_home=str(data_home(home)), download_if_missing=True)
    except Exception as error:  # no network, disk full, ...: say what to do instead
        raise DataError(f"LFW is not under {root} and downloading it failed ({error}). {LFW_MISSING_HELP}") from error
    return root


def identity_folders(root: Path) -> dict[str, list[Path]]:
    """{identity: sorted image paths} for every sub-folder holding images."""
    if not root.is_dir():
        raise DataError(f"{root} is not a folder of identity sub-folders.")
    folders = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir():
            # Names first, Paths only for the images: LFW's 5,749 folders are listed at every start.
            names = sorted(n for n in os.listdir(entry.path) if os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES)
            if names:
                folders[entry.name] = [Path(entry.path, name) for name in names]
    if not folders:
        raise DataError(f"{root} holds no identity sub-folders with images (expected root/<identity>/*.jpg).")
    return folders


def most_photographed(folders: dict[str, list[Path]], count: int) -> list[str]:
    """The `count` identities with the most images, ties broken by name."""
    return sorted(folders, key=lambda name: (-len(folders[name]), name))[:count]


# --- decoding and caching -----------------------------------------------------------


def _decode(path: Path, image_size: int, crop: float) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        if crop < 1.0:
            width, height = image.size
            side = min(width, height) * crop
            left, top = (width - side) / 2, (height - side) / 2
            image = image.crop((round(left), round(top), round(left + side), round(top + side)))
        image = image.resize((image_size, image_size), Image.BILINEAR, reducing_gap=2.0)
        return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def _fingerprint(root: Path, paths: list[Path], image_size: int, crop: float) -> str:
    digest = hashlib.sha256(f"{image_size}:{crop}".encode())
    for path in paths:
        digest.update(f"{path.relative_to(root)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


DECODE_VERSION = 1  # raise when _decode changes what it makes of a photo: the cached pixels are then stale


def _cache_key(fingerprint: str, paths: list[Path]) -> str:
    """The decoded photos' cache entry: the file list (the dataset's fingerprint), when each file last changed
    (a photo replaced by another of the same size) and how photos are decoded."""
    digest = hashlib.sha256(f"{fingerprint}:{DECODE_VERSION}".encode())
    for path in paths:
        digest.update(f"{path.stat().st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("UNSIR_CACHE_DIR") or user_cache_dir("unsir"))


def _readable_header(path: Path) -> bool:
    """Whether Pillow recognises the file, without decoding its pixels (the streaming reader's check)."""
    try:
        with Image.open(path):
            return True
    except (OSError, UnidentifiedImageError, ValueError):
        return False


def stream_images(root: Path, paths: list[Path], image_size: int, crop: float):
    """Like decode_images, but the photos stay on disk (PhotoFiles); a file whose header Pillow does not
    recognise is skipped, one that fails later, while decoding, stops training with its name."""
    readable = {path: _readable_header(path) for path in paths}
    kept, skipped = [p for p in paths if readable[p]], [p for p in paths if not readable[p]]
    images = PhotoFiles(root, [str(p.relative_to(root)) for p in kept], image_size, crop)
    return images, kept, skipped, _fingerprint(root, paths, image_size, crop)


def decode_images(root: Path, paths: list[Path], image_size: int, crop: float):
    """Decode `paths` once into uint8 [N,3,S,S], cached by a fingerprint of the file list.

    Returns (images, kept paths, skipped paths, fingerprint).
    """
    fingerprint = _fingerprint(root, paths, image_size, crop)
    cached = cache_dir() / f"faces-{_cache_key(fingerprint, paths)}.npz"
    try:
        with np.load(cached) as stored:
            images, kept = stored["images"], set(stored["kept"].tolist())
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):  # damaged: decoded again below, and replaced
        cached.unlink(missing_ok=True)
    else:
        relative = [str(p.relative_to(root)) for p in paths]
        return (
            torch.from_numpy(images),
            [p for p, r in zip(paths, relative) if r in kept],
            [p for p, r in zip(paths, relative) if r not in kept],
            fingerprint,
        )
    arrays, kept, skipped = [], [], []
    for path in paths:
        try:
            arrays.append(_decode(path, image_size, crop))
            kept.append(path)
        except (OSError, UnidentifiedImageError, ValueError):
            skipped.append(path)
    images = np.stack(arrays) if arrays else np.zeros((0, 3, image_size, image_size), np.uint8)
    cached.parent.mkdir(parents=True, exist_ok=True)
    # A file of its own per writer: two processes decoding the same photos at once (the app and a benchmark)
    # must not rename each other's half-written cache.
    with tempfile.NamedTemporaryFile(dir=cached.parent, prefix=cached.stem, suffix=".tmp.npz", delete=False) as partial:
        try:
            np.savez(partial, images=images, kept=np.array([str(p.relative_to(root)) for p in kept]))
        except BaseException:
            Path(partial.name).unlink()
            raise
    os.replace(partial.name, cached)
    return torch.from_numpy(images), kept, skipped, fingerprint


# --- splitting ----------------------------------------------------------------------


def split_indices(labels: torch.Tensor, test_fraction: float, min_test: int, seed: int):
    """Seeded per-identity split; every identity keeps >= `min_test` test images."""
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(set(labels.tolist())):
        members = (labels == label).nonzero().flatten().tolist()
        rng.shuffle(members)
        n_test = max(min_test, round(test_fraction * len(members)))
        test += members[:n_test]
        train += members[n_test:]
    return sorted(train), sorted(test)


def capped(members: list, cap: int | None, rng: random.Random) -> list:
    """One identity's photos, at most `cap` of them: a seeded sample, in their order."""
    return sorted(rng.sample(members, cap)) if cap and len(members) > cap else members


MIN_PHOTOS = 4  # per identity: 3 to test on, at least one to train on


def read_identity_folder(
    root: str | os.PathLike,
    *,
    image_size: int = 64,
    identities: list[str] | None = None,
    min_images: int = MIN_PHOTOS,
    max_per_identity: int | None = None,
    crop: float = 1.0,
    test_fraction: float = 0.2,
    min_test: int = 3,
    seed: int = 0,
    streaming: bool | None = None,
) -> Split:
    """Read ``root/<identity>/*`` into a seeded train/test split.

    `identities` picks and orders the classes (default: every folder with at least
    `min_images` readable images, by name). `max_per_identity` caps each identity's
    images with a seeded sample. `streaming`: keep the photos on disk and decode them when
    read (default: above STREAMING_THRESHOLD photos).
    """
    root = Path(root)
    folders = identity_folders(root)
    needed = max(min_images, min_test + 1)  # min_test photos to test on, at least one to train on
    if identities is None:
        identities = [name for name, paths in folders.items() if len(paths) >= needed]
        if len(identities) < 2:
            raise DataError(f"Only {len(identities)} of the {len(folders)} identity folders under {root} have at "
                            f"least {needed} images; a recogniser needs at least 2 such identities.")
    unknown = [name for name in identities if name not in folders]
    if unknown:
        raise DataError(f"No folder for identities {unknown[:5]} under {root}.")
    rng = random.Random(seed)
    paths = []
    for name in identities:
        paths += capped(folders[name], max_per_identity, rng)
    if streaming is None:
        streaming = len(paths) > STREAMING_THRESHOLD
    read = stream_images if streaming else decode_images
    images, kept, skipped, fingerprint = read(root, paths, image_size, crop)
    counts = {name: 0 for name in identities}
    for path in kept:
        counts[path.parent.name] += 1
    too_few = [name for name, n in counts.items() if n < needed]
    if too_few:
        raise DataError(
            f"{len(too_few)} identities have fewer than {needed} readable images "
            f"(e.g. {too_few[:3]}); each needs {min_test} test images and at least one to train on."
        )
    class_of = {name: i for i, name in enumerate(identities)}
    labels = torch.tensor([class_of[p.parent.name] for p in kept], dtype=torch.long)
    faces = FaceSet(images, labels, list(identities), [str(p.relative_to(root)) for p in kept])
    train, test = split_indices(labels, test_fraction, min_test, seed)
    return Split(faces.subset(train), faces.subset(test), fingerprint, [str(p) for p in skipped])


# --- named datasets -----------------------------------------------------------------

DATASETS = ("lfw100", "olivetti")


def load_lfw100(home=None, *, image_size: int = 64, identities: int = 100, seed: int = 0,
                max_per_identity: int | None = None) -> Split:
    """LFW-100: the people with the most LFW photos (the offline stand-in for VGGFace-100)."""
    root = lfw_root(home)
    chosen = most_photographed(identity_folders(root), identities)
    return read_identity_folder(root, image_size=image_size, identities=chosen, crop=LFW_FACE_CROP,
                                seed=seed, max_per_identity=max_per_identity)


def load_strangers(names_to_exclude, home=None, *, image_size: int = 64, count: int = 300, seed: int = 0) -> FaceSet:
    """One photo each of `count` LFW people never trained on (a held-out population)."""
    root = lfw_root(home)
    excluded = set(names_to_exclude)
    folders = identity_folders(root)
    rng = random.Random(seed)
    people = sorted(rng.sample([n for n in folders if n not in excluded], min(count, len(folders) - len(excluded))))
    paths = [rng.choice(folders[name]) for name in people]
    images, kept, _, _ = decode_images(root, paths, image_size, LFW_FACE_CROP)
    labels = torch.full((len(kept),), -1, dtype=torch.long)
    return FaceSet(images, labels, [], [str(p.relative_to(root)) for p in kept])


def load_olivetti(home=None, *, image_size: int = 64, seed: int = 0, min_test: int = 3,
                  max_per_identity: int | None = None) -> Split:
    """ORL/AT&T Olivetti faces (40 people x 10, grey 64x64), as 3-channel uint8. `max_per_identity` caps each
    person's photos with a seeded sample, as for LFW."""
    if max_per_identity is not None and max_per_identity < min_test + 1:
        raise DataError(f"Olivetti: at most {max_per_identity} photos per person is too few; each person needs "
                        f"{min_test} held-out photos and at least one to train on ({min_test + 1} or more).")
    from sklearn.datasets import fetch_olivetti_faces

    try:
        bunch = fetch_olivetti_faces(data_home=str(data_home(home)), download_if_missing=True)
    except Exception as error:
        raise DataError(f"Olivetti faces are not in {data_home(home)} and could not be downloaded ({error}).") from error
    grey = torch.from_numpy((bunch.images * 255).round().astype(np.uint8))[:, None]
    if image_size != grey.shape[-1]:
        grey = torch.nn.functional.interpolate(grey.float(), size=image_size, mode="bilinear", antialias=True)
        grey = grey.round().clamp(0, 255).to(torch.uint8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    names = [f"person_{i:02d}" for i in range(int(labels.max()) + 1)]
    faces = FaceSet(grey.expand(-1, 3, -1, -1).contiguous(), labels, names, [f"olivetti/{i}" for i in range(len(labels))])
    fingerprint = "olivetti-sklearn"
    if max_per_identity:
        rng = random.Random(seed)
        kept = [i for c in range(len(names)) for i in capped((labels == c).nonzero().flatten().tolist(),
                                                             max_per_identity, rng)]
        faces, fingerprint = faces.subset(torch.tensor(kept)), f"olivetti-sklearn-max{max_per_identity}-seed{seed}"
    train, test = split_indices(faces.labels, 0.2, min_test, seed)
    return Split(faces.subset(train), faces.subset(test), fingerprint)


def load_dataset(name: str, home=None, *, image_size: int = 64, seed: int = 0,
                 max_per_identity: int | None = None, identities: int | list[str] = 100) -> Split:
    """`lfw100`, `olivetti`, or a path to an identity folder (already cropped faces). `identities`: how many of
    LFW's most photographed people, or the very people (a model's card: a folder may have gained some since)."""
    if name == "lfw100":
        return load_lfw100(home, image_size=image_size, seed=seed, max_per_identity=max_per_identity,
                           identities=identities if isinstance(identities, int) else len(identities))
    if name == "olivetti":
        return load_olivetti(home, image_size=image_size, seed=seed, max_per_identity=max_per_identity)
    if Path(name).is_dir():
        return read_identity_folder(name, image_size=image_size, seed=seed, max_per_identity=max_per_identity,
                                    identities=None if isinstance(identities, int) else identities)
    raise DataError(f"Unknown dataset {name!r}: use one of {', '.join(DATASETS)} or a folder of identity sub-folders.")
