"""`unsir prepare`: turn raw photos (SRC/<identity>/*.jpg) into aligned face crops with MTCNN.

This is how a user builds VGGFace-100 from VGGFace2: the N identities with the most detected
faces, each with at least K of them.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from .data import DataError, identity_folders
from .faces import largest_faces
from .training import Progress, default_device

# Photos per MTCNN call: same-sized photos in it are detected as one batch.
DETECTION_BATCH = 32


class RawPhotos(Dataset):
    """(identity, path, decoded RGB photo or None when unreadable), decoded in DataLoader workers."""

    def __init__(self, photos: list[tuple[str, Path]]):
        self.photos = photos

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, index: int):
        name, path = self.photos[index]
        try:
            with Image.open(path) as photo:
                return name, path, photo.convert("RGB")
        except (OSError, UnidentifiedImageError):
            return name, path, None


def prepare_faces(src, out, *, identities: int | None = None, min_images: int = 1, image_size: int = 160,
                  workers: int | None = None, progress: Progress | None = None) -> dict:
    """Crop the largest face of every photo into OUT/<identity>/<photo>.png; photos without a face,
    or unreadable, are skipped and counted.

    Photos are decoded by `workers` processes (default: one per core, at most 8) and MTCNN runs on
    the GPU when there is one, DETECTION_BATCH photos a call."""
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise DataError("--out must differ from --src: the raw photos are never overwritten.")
    if out.exists() and any(out.iterdir()):
        # Identities that fall short are removed from it at the end: only what this run wrote may be.
        raise DataError(f"--out {out} already holds files: give a new or empty folder.")
    folders = identity_folders(src)
    # Most photographed first, so we can stop once enough identities qualify.
    order = sorted(folders, key=lambda name: (-len(folders[name]), name))
    photos = [(name, path) for name in order for path in folders[name]]
    workers = min(8, os.cpu_count() or 1) if workers is None else workers
    batches = DataLoader(RawPhotos(photos), batch_size=DETECTION_BATCH, num_workers=workers, collate_fn=list)
    device = str(default_device())
    counts: dict[str, int] = {}
    skipped = {"no_face": [], "unreadable": []}
    several_faces, seen, qualified = 0, 0, 0  # qualified: identities with min_images faces so far
    enough = False  # `identities` qualified, and the photos reached a person not started: the rest are new too
    for batch in batches:
        if enough:
            break
        readable = [(name, path, image) for name, path, image in batch if image is not None]
        faces = largest_faces([image for _, _, image in readable], image_size, device) if readable else []
        skipped["unreadable"] += [str(path.relative_to(src)) for _, path, image in batch if image is None]
        for (name, path, _), face in zip(readable, faces):
            if name not in counts:
                if identities and qualified >= identities:
                    enough = True  # the people started are finished: every photo of theirs came before
                    continue
                counts[name] = 0
                qualified += min_images <= 0
            if face is None:
                skipped["no_face"].append(str(path.relative_to(src)))
                continue
            several_faces += face.faces_found > 1
            (out / name).mkdir(parents=True, exist_ok=True)
            # a.jpg and a.png of one person stay two photos
            crop = out / name / f"{path.stem}.png"
            if crop.exists():
                crop = out / name / f"{path.stem}_{path.suffix.lstrip('.')}.png"
            face.crop.save(crop)
            counts[name] += 1
            qualified += counts[name] == min_images
        seen += len(batch)
        if progress:
            progress("prepare", seen / len(photos))
    kept = {name: count for name, count in counts.items() if count >= min_images}
    for name in set(counts) - set(kept):
        shutil.rmtree(out / name, ignore_errors=True)
    if not kept:
        raise DataError(f"No identity under {src} has {min_images} photos with a detectable face.")
    return {
        "out": str(out),
        "identities": len(kept),
        "images": sum(kept.values()),
        "skipped_no_face": len(skipped["no_face"]),
        "skipped_unreadable": len(skipped["unreadable"]),
        "several_faces_used_largest": several_faces,
        "skipped_examples": (skipped["no_face"] + skipped["unreadable"])[:10],
    }
