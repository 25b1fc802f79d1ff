"""`unsir prepare`: turn raw photos (SRC/<identity>/*.jpg) into aligned face crops with MTCNN.

This is how a user builds VGGFace-100 from VGGFace2: the N identities with the most detected
faces, each with at least K of them.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .data import DataError, identity_folders
from .faces import largest_face
from .training import Progress


def prepare_faces(src, out, *, identities: int | None = None, min_images: int = 1, image_size: int = 160,
                  progress: Progress | None = None) -> dict:
    """Crop the largest face of every photo into OUT/<identity>/<photo>.png; photos without a face,
    or unreadable, are skipped and counted."""
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise DataError("--out must differ from --src: the raw photos are never overwritten.")
    folders = identity_folders(src)
    # Most photographed first, so we can stop once enough identities qualify.
    order = sorted(folders, key=lambda name: (-len(folders[name]), name))
    total = sum(len(paths) for paths in folders.values())
    kept, seen = {}, 0
    skipped = {"no_face": [], "unreadable": []}
    several_faces = 0
    for name in order:
        if identities and len(kept) >= identities:
            break
        target = out / name
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for path in folders[name]:
            seen += 1
            try:
                with Image.open(path) as photo:
                    face = largest_face(photo, image_size)
            except (OSError, UnidentifiedImageError):
                skipped["unreadable"].append(str(path.relative_to(src)))
                continue
            if face is None:
                skipped["no_face"].append(str(path.relative_to(src)))
                continue
            several_faces += face.faces_found > 1
            face.crop.save(target / f"{path.stem}.png")
            count += 1
            if progress:
                progress("prepare", seen / total)
        if count >= min_images:
            kept[name] = count
        else:
            shutil.rmtree(target)
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
