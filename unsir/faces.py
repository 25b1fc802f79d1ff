"""Face detection and cropping with facenet-pytorch's MTCNN (weights ship inside the package)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from facenet_pytorch import MTCNN
from facenet_pytorch.models.utils.detect_face import extract_face
from PIL import Image

# Margin around MTCNN's tight box, as a share of the crop: matches LFW's framing of a face.
MARGIN_SHARE = 0.2


@dataclass
class DetectedFace:
    crop: Image.Image  # square RGB face crop
    faces_found: int  # how many faces the photo held (the largest was kept)
    probability: float


@lru_cache(maxsize=2)
def _detector(device: str) -> MTCNN:
    return MTCNN(device=torch.device(device), keep_all=True, post_process=False)


def largest_face(image: Image.Image, size: int = 160, device: str = "cpu") -> DetectedFace | None:
    """The largest face in `image`, cropped square with a margin; None when there is none."""
    image = image.convert("RGB")
    boxes, probabilities = _detector(device).detect(image)
    if boxes is None or not len(boxes):
        return None
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    best = int(np.argmax(areas))
    crop = extract_face(image, boxes[best], image_size=size, margin=round(MARGIN_SHARE * size))
    pixels = crop.permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()
    return DetectedFace(Image.fromarray(pixels), len(boxes), float(probabilities[best]))
