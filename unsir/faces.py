"""Face detection and cropping with facenet-pytorch's MTCNN (weights ship inside the package)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils.detect_face import extract_face
from PIL import Image, ImageOps, UnidentifiedImageError

# Margin around MTCNN's tight box, as a share of the crop: matches LFW's framing of a face.
MARGIN_SHARE = 0.2
MIN_FACE_SIDE = 20  # MTCNN's smallest face (its min_face_size); a smaller photo holds none it can find
MAX_PHOTO_PIXELS = 50_000_000  # a 50-megapixel camera; a larger (or forged) image costs GBs to decode
DETECTION_SIDE = 1280  # larger photos are shrunk first: MTCNN's time grows with the pixel count


class PhotoError(ValueError):
    """A photo that cannot be used, with a message a person can act on."""


@dataclass
class DetectedFace:
    crop: Image.Image  # square RGB face crop
    faces_found: int  # how many faces the photo held (the largest was kept)
    probability: float
    box: tuple[float, float, float, float]  # the kept face in the photo: left, top, right, bottom


@lru_cache(maxsize=2)
def _detector(device: str) -> MTCNN:
    return MTCNN(device=torch.device(device), keep_all=True, post_process=False)


def read_photo(photo: str | os.PathLike | Image.Image) -> Image.Image:
    """A photo (a file or an opened image) as upright RGB, at most DETECTION_SIDE pixels a side.

    Raises PhotoError for a file that is not an image, is damaged, or is too large or too small.
    """
    try:
        image = photo if isinstance(photo, Image.Image) else Image.open(photo)
    except Image.DecompressionBombError as error:  # Pillow's own guard, far above MAX_PHOTO_PIXELS
        raise PhotoError(f"This image is too large ({error}); at most {MAX_PHOTO_PIXELS / 1e6:.0f} megapixels are "
                         "accepted. Send a smaller copy.") from error
    except (UnidentifiedImageError, OSError) as error:
        raise PhotoError("This file is not an image that can be read: send a JPEG, PNG or WebP photo.") from error
    width, height = image.size
    if width * height > MAX_PHOTO_PIXELS:
        raise PhotoError(f"This image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); at most "
                         f"{MAX_PHOTO_PIXELS / 1e6:.0f} megapixels are accepted. Send a smaller copy.")
    if min(width, height) < MIN_FACE_SIDE:
        raise PhotoError(f"This image is {width}×{height} pixels: too small to hold a face. Send a photo at least "
                         f"{MIN_FACE_SIDE} pixels a side, where the face fills a good part of it.")
    image.draft("RGB", (DETECTION_SIDE, DETECTION_SIDE))  # a JPEG decodes straight to a smaller size
    try:
        upright = ImageOps.exif_transpose(image).convert("RGB")  # decodes the pixels
    except (OSError, SyntaxError, ValueError) as error:
        raise PhotoError(f"This image is damaged or incomplete ({error}). Send the photo again, or another one.") \
            from error
    finally:
        if image is not photo:
            image.close()
    upright.thumbnail((DETECTION_SIDE, DETECTION_SIDE))
    return upright


def largest_face(image: Image.Image, size: int = 160, device: str = "cpu") -> DetectedFace | None:
    """The largest face in `image`, cropped square with a margin; None when there is none."""
    return largest_faces([image], size, device)[0]


def largest_faces(images: list[Image.Image], size: int = 160, device: str = "cpu") -> list[DetectedFace | None]:
    """`largest_face` of each image; images of one size go through MTCNN as one batch (on a GPU, much
    faster than one by one)."""
    images = [image.convert("RGB") for image in images]
    found: list[DetectedFace | None] = [None] * len(images)
    by_size: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(images):
        if min(image.size) >= MIN_FACE_SIDE:  # MTCNN would fail on an empty image pyramid
            by_size.setdefault(image.size, []).append(index)
    for indices in by_size.values():
        boxes, probabilities = _detector(device).detect([images[i] for i in indices])
        for index, image_boxes, image_probabilities in zip(indices, boxes, probabilities):
            found[index] = _crop_largest(images[index], image_boxes, image_probabilities, size)
    return found


def _crop_largest(image: Image.Image, boxes, probabilities, size: int) -> DetectedFace | None:
    if boxes is None or not len(boxes):
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    best = int(np.argmax(areas))
    crop = extract_face(image, boxes[best], image_size=size, margin=round(MARGIN_SHARE * size))
    pixels = crop.permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()
    return DetectedFace(Image.fromarray(pixels), len(boxes), float(probabilities[best]),
                        tuple(float(v) for v in boxes[best]))
