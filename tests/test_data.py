import os

import pytest
import torch

from unsir.data import (DataError, FaceSet, load_lfw100, load_olivetti, load_strangers, most_photographed,
                        identity_folders, read_identity_folder, split_indices)


def test_split_is_deterministic_and_keeps_three_test_images_per_identity():
    labels = torch.tensor([0] * 14 + [1] * 30 + [2] * 4)
    first = split_indices(labels, 0.2, 3, seed=7)
    assert first == split_indices(labels, 0.2, 3, seed=7)
    assert first != split_indices(labels, 0.2, 3, seed=8)
    train, test = first
    assert not set(train) & set(test)
    assert sorted(train + test) == list(range(len(labels)))
    for label in range(3):
        assert (labels[test] == label).sum() >= 3
        assert (labels[train] == label).sum() >= 1


def test_lfw100_is_the_hundred_most_photographed_people(lfw_root):
    split = load_lfw100(image_size=32)
    assert len(split.names) == 100
    assert split.names[0] == "George_W_Bush"
    assert split.names == most_photographed(identity_folders(lfw_root), 100)
    assert len(split.train) + len(split.test) == 3651
    assert split.train.images.dtype == torch.uint8 and split.train.images.shape[1:] == (3, 32, 32)
    # No photo is in both train and test, and every identity is tested on >= 3 photos.
    assert not set(split.train.sources) & set(split.test.sources)
    assert torch.bincount(split.test.labels, minlength=100).min() >= 3
    assert load_lfw100(image_size=32).fingerprint == split.fingerprint


def test_strangers_are_never_among_the_identities(lfw_root):
    split = load_lfw100(image_size=32)
    strangers = load_strangers(split.names, image_size=32, count=50)
    people = {source.split("/")[0] for source in strangers.sources}
    assert len(people) == 50 and not people & set(split.names)


def test_identity_folder_reader_caps_and_reports_unreadable_files(tmp_path, lfw_root):
    for name in ("Tony_Blair", "Colin_Powell"):
        (tmp_path / name).mkdir()
        for photo in sorted((lfw_root / name).iterdir())[:6]:
            (tmp_path / name / photo.name).write_bytes(photo.read_bytes())
    (tmp_path / "Tony_Blair" / "broken.jpg").write_bytes(b"not a jpeg")
    split = read_identity_folder(tmp_path, image_size=32, max_per_identity=7, seed=1)
    assert split.names == ["Colin_Powell", "Tony_Blair"]
    assert len(split.train) + len(split.test) + len(split.skipped) == 6 + 7
    assert len(split.skipped) == 1 and split.skipped[0].endswith("broken.jpg")


def test_identity_folder_errors_are_actionable(tmp_path):
    with pytest.raises(DataError, match="no identity sub-folders"):
        read_identity_folder(tmp_path)
    (tmp_path / "solo").mkdir()
    (tmp_path / "solo" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="at least 4 images"):
        read_identity_folder(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(4):
            (tmp_path / name / f"{i}.jpg").write_bytes(b"unreadable")
    with pytest.raises(DataError, match="fewer than 4 readable images"):
        read_identity_folder(tmp_path)


def test_olivetti_loads_as_three_channel_uint8():
    split = load_olivetti(image_size=32)
    assert len(split.names) == 40 and len(split.train) + len(split.test) == 400
    assert split.train.images.shape[1:] == (3, 32, 32)


def test_faceset_subsets_by_class():
    faces = FaceSet(torch.zeros(6, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1, 2, 0, 1, 2]), ["a", "b", "c"])
    assert faces.of_classes([1]).labels.tolist() == [1, 1]
    assert faces.without_classes([1]).labels.tolist() == [0, 2, 0, 2]


def test_streaming_reader_yields_the_photos_and_labels_of_the_in_memory_reader(tmp_path, lfw_root):
    from unsir.data import FaceTensors, PhotoFiles
    from unsir.training import loader

    for name in ("Tony_Blair", "Colin_Powell", "Donald_Rumsfeld"):
        (tmp_path / name).mkdir()
        for photo in sorted((lfw_root / name).iterdir())[:6]:
            (tmp_path / name / photo.name).write_bytes(photo.read_bytes())
    (tmp_path / "Tony_Blair" / "broken.jpg").write_bytes(b"not a jpeg")
    in_memory = read_identity_folder(tmp_path, image_size=32, crop=0.5, seed=3, streaming=False)
    streamed = read_identity_folder(tmp_path, image_size=32, crop=0.5, seed=3, streaming=True)
    assert isinstance(streamed.train.images, PhotoFiles) and streamed.skipped == in_memory.skipped
    assert streamed.fingerprint == in_memory.fingerprint and streamed.names == in_memory.names
    for memory_part, streamed_part in ((in_memory.train, streamed.train), (in_memory.test, streamed.test)):
        assert streamed_part.sources == memory_part.sources
        assert torch.equal(streamed_part.labels, memory_part.labels)
        assert torch.equal(streamed_part.images[:], memory_part.images)
        # Training reads them through DataLoader workers, decoding there.
        memory_batches, streamed_batches = (list(loader(FaceTensors(part), 4, torch.Generator().manual_seed(0)))
                                            for part in (memory_part, streamed_part))
        for (memory_inputs, memory_labels), (streamed_inputs, streamed_labels) in zip(memory_batches, streamed_batches,
                                                                                      strict=True):
            assert torch.equal(streamed_inputs, memory_inputs) and torch.equal(streamed_labels, memory_labels)


def test_two_writers_of_the_photo_cache_do_not_break_each_other(tmp_path, lfw_root, monkeypatch):
    """Another process finishes the same cache between this one's write and its rename (the app and a benchmark
    started together): both get the photos, and no half-written file is left behind."""
    import numpy as np

    from unsir import data

    monkeypatch.setenv("UNSIR_CACHE_DIR", str(tmp_path / "cache"))
    photos = tmp_path / "photos"
    (photos / "Tony_Blair").mkdir(parents=True)
    for photo in sorted((lfw_root / "Tony_Blair").iterdir())[:3]:
        (photos / "Tony_Blair" / photo.name).write_bytes(photo.read_bytes())
    paths = sorted((photos / "Tony_Blair").iterdir())
    real_savez, other_writer = np.savez, []

    def savez_then_another_writer(file, **arrays):
        real_savez(file, **arrays)
        if not other_writer:
            other_writer.append("writing")
            other_writer[0] = data.decode_images(photos, paths, 32, 1.0)

    monkeypatch.setattr(data.np, "savez", savez_then_another_writer)
    images, kept, skipped, _ = data.decode_images(photos, paths, 32, 1.0)
    assert torch.equal(images, other_writer[0][0]) and kept == paths and not skipped
    key = data._cache_key(other_writer[0][3], paths)
    assert [f.name for f in (tmp_path / "cache").iterdir()] == [f"faces-{key}.npz"]


def test_the_photo_cache_follows_a_photo_replaced_by_one_of_the_same_size_and_mends_a_damaged_entry(
        tmp_path, lfw_root, monkeypatch):
    from unsir import data

    monkeypatch.setenv("UNSIR_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "photos" / "Tony_Blair"
    folder.mkdir(parents=True)
    sources = sorted(sorted((lfw_root / "Tony_Blair").iterdir())[:2], key=lambda p: p.stat().st_size)
    small, large = (folder / "small.jpg", folder / "large.jpg")
    small.write_bytes(sources[0].read_bytes())
    large.write_bytes(sources[1].read_bytes())
    paths = [large, small]
    before, *_ = data.decode_images(folder.parent, paths, 32, 1.0)
    # The large photo replaced by the small one, padded to the same size (a JPEG's decoder stops at its end).
    padded = small.read_bytes().ljust(large.stat().st_size, b"\0")
    large.write_bytes(padded)
    os.utime(large, ns=(large.stat().st_atime_ns, large.stat().st_mtime_ns + 10**9))
    after, *_ = data.decode_images(folder.parent, paths, 32, 1.0)
    assert not torch.equal(after[0], before[0]) and torch.equal(after[0], after[1])
    # A damaged cache entry is decoded again and replaced, not a zip error.
    key = data._cache_key(data._fingerprint(folder.parent, paths, 32, 1.0), paths)
    entry, = (tmp_path / "cache").glob(f"faces-{key}.npz")
    entry.write_bytes(b"not a zip")
    again, *_ = data.decode_images(folder.parent, paths, 32, 1.0)
    assert torch.equal(again, after) and entry.stat().st_size > 100
