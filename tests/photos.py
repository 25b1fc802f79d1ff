"""Photos the app must refuse or handle, made on the fly from the data home (no photo is committed)."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

# file name -> what the refusal says
UNUSABLE = {
    "notes.jpg": "not an image that can be read",  # text named like a photo
    "truncated.jpg": "damaged or incomplete",  # the first third of a JPEG
    "bomb.png": "too large .* at most 50 megapixels",  # 240 megapixels in 29 kB: a decompression bomb
    "huge.png": "9000×7000 pixels .* at most 50 megapixels",
    "dot.png": "1×1 pixels: too small to hold a face",
}


def lfw_photo_path(lfw_root: Path, name: str = "Tony_Blair") -> Path:
    return sorted((lfw_root / name).glob("*.jpg"))[0]


def write_unusable(folder: Path, lfw_root: Path) -> dict[str, Path]:
    """Write every photo of UNUSABLE into `folder`; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.jpg").write_text("Not a photo at all.\n")
    jpeg = lfw_photo_path(lfw_root).read_bytes()
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    Image.new("1", (20_000, 12_000)).save(folder / "bomb.png")
    Image.new("1", (9000, 7000)).save(folder / "huge.png")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    return {name: folder / name for name in UNUSABLE}


def group_photo(lfw_root: Path) -> Image.Image:
    """Two people side by side on a grey wall: Tony Blair 300 px wide on the left, Colin Powell half
    that on the right."""
    group = Image.new("RGB", (600, 400), "grey")
    group.paste(Image.open(lfw_photo_path(lfw_root, "Tony_Blair")).resize((300, 300)), (0, 50))
    group.paste(Image.open(lfw_photo_path(lfw_root, "Colin_Powell")).resize((150, 150)), (400, 125))
    return group
