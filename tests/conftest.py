"""Shared fixtures: the offline data home, an isolated cache, and a tiny Olivetti model."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "scikit_learn_data"
os.environ.setdefault("SCIKIT_LEARN_DATA", str(SHARED_DATA))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
torch.set_num_threads(2)

TINY_SIZE = 32


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    os.environ["UNSIR_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def lfw_root() -> Path:
    from unsir.data import lfw_root as locate

    return locate(download=False)


@pytest.fixture(scope="session")
def olivetti_checkpoint(tmp_path_factory) -> Path:
    """A ResNet18 trained on Olivetti at 32 px by the real CLI (about 15 s on 2 cores; 97 % test accuracy)."""
    from unsir.cli import main

    out = tmp_path_factory.mktemp("models") / "resnet18-olivetti"
    assert main(["train", "--dataset", "olivetti", "--image-size", str(TINY_SIZE), "--epochs", "25",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def olivetti(olivetti_checkpoint):
    from unsir.pipeline import load

    return load(olivetti_checkpoint)


@pytest.fixture(scope="session")
def recognised_pair(olivetti) -> list[str]:
    """Two people the tiny model names on every held-out photo: the forget set of the method tests.
    Read off the model, not hard-coded: its training differs across CPUs (bf16 or float32), and a person
    the original already misses cannot show forgetting."""
    from unsir.training import predict_outputs

    test = olivetti.split.test
    named = predict_outputs(olivetti.model, test).argmax(1) == test.labels
    always_named = [c for c in range(len(olivetti.split.names)) if named[test.labels == c].all()]
    assert len(always_named) >= 2, "the tiny model recognises fewer than two people: train it longer"
    return [olivetti.split.names[c] for c in always_named[:2]]
