"""Reading a visitor's photo: clear refusals, upright, bounded in size; the largest of several faces."""
from __future__ import annotations

import re

import pytest
from PIL import Image

from unsir.faces import DETECTION_SIDE, PhotoError, largest_face, read_photo

import photos


@pytest.fixture(scope="module")
def unusable(tmp_path_factory, lfw_root):
    return photos.write_unusable(tmp_path_factory.mktemp("photos"), lfw_root)


@pytest.mark.parametrize("name", list(photos.UNUSABLE))
def test_an_unusable_photo_is_refused_with_what_is_wrong(unusable, name):
    with pytest.raises(PhotoError, match=photos.UNUSABLE[name]):
        read_photo(unusable[name])


def test_a_large_photo_is_shrunk_and_a_turned_one_set_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned a quarter
    Image.new("RGB", (4000, 3000), "grey").save(tmp_path / "turned.jpg", exif=exif)
    photo = read_photo(tmp_path / "turned.jpg")
    assert photo.mode == "RGB" and photo.size == (DETECTION_SIDE * 3 // 4, DETECTION_SIDE)


def test_of_several_faces_the_largest_is_kept_and_they_are_counted(lfw_root):
    found = largest_face(read_photo(photos.group_photo(lfw_root)))
    assert found.faces_found == 2
    left, top, right, bottom = found.box
    assert right < 300  # Tony Blair's half of the photo, where the larger face is


def test_a_photo_too_small_for_mtcnn_holds_no_face():
    assert largest_face(Image.new("RGB", (1, 1))) is None


def test_every_refusal_says_what_to_send_instead(unusable):
    for path in unusable.values():
        with pytest.raises(PhotoError) as refused:
            read_photo(path)
        assert re.search(r"[Ss]end ", str(refused.value))
