import numpy as np
from PIL import Image

from unsir import prepare
from unsir.cli import main
from unsir.data import read_identity_folder
from unsir.faces import largest_face


def test_prepare_crops_faces_and_counts_what_it_skips(tmp_path, lfw_root, capsys, monkeypatch):
    src = tmp_path / "raw"
    for name in ("Tony_Blair", "Colin_Powell"):
        (src / name).mkdir(parents=True)
        for photo in sorted((lfw_root / name).iterdir())[:4]:
            (src / name / photo.name).write_bytes(photo.read_bytes())
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(src / "Tony_Blair" / "wall.jpg")
    (src / "Colin_Powell" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (src / "Nobody").mkdir()
    Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(src / "Nobody" / "dark.png")

    out = tmp_path / "faces"
    assert main(["prepare", "--src", str(src), "--out", str(out), "--min-images", "4", "--image-size", "64"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["Colin_Powell", "Tony_Blair"]
    assert len(list((out / "Tony_Blair").glob("*.png"))) == 4
    summary = capsys.readouterr().out
    assert '"skipped_no_face": 2' in summary and '"skipped_unreadable": 1' in summary
    split = read_identity_folder(out, image_size=32, min_images=4)
    assert split.names == ["Colin_Powell", "Tony_Blair"]
    # A folder already holding files is refused: identities falling short are removed from it at the end.
    assert main(["prepare", "--src", str(src), "--out", str(out), "--min-images", "4"]) == 2
    assert "already holds files" in capsys.readouterr().err
    # The one identity asked for (the most photographed: 5 photos each, so the first by name) comes with every face
    # it has, not cut where a batch of photos ended once it had qualified.
    monkeypatch.setattr(prepare, "DETECTION_BATCH", 2)
    one = tmp_path / "one"
    assert main(["prepare", "--src", str(src), "--out", str(one), "--identities", "1", "--image-size", "64"]) == 0
    assert [p.name for p in one.iterdir()] == ["Colin_Powell"]
    assert len(list((one / "Colin_Powell").glob("*.png"))) == 4  # its 4 readable photos of 5


def test_largest_face_on_a_photo_without_a_face_is_none():
    assert largest_face(Image.fromarray(np.full((100, 100, 3), 200, np.uint8))) is None
