"""A training set that fails on any read of a forgotten identity's photo: the zero-glance tests' trap."""
from __future__ import annotations

import torch

from unsir.data import FaceSet


class ForgetTrap(FaceSet):
    """Training photos that raise on any read of a forgotten identity's photo while `armed`."""

    def __init__(self, faces: FaceSet, forbidden_classes):
        self.armed = True
        super().__init__(faces.images, faces.labels, faces.names, faces.sources)
        self.forbidden = torch.tensor(list(forbidden_classes))

    def __getattribute__(self, name):
        if name == "images" and object.__getattribute__(self, "armed"):
            raise AssertionError("the whole image tensor, forgotten photos included, was read")
        return super().__getattribute__(name)

    def subset(self, indices):
        indices = torch.as_tensor(indices, dtype=torch.long)
        if self.armed and torch.isin(self.labels[indices], self.forbidden).any():
            raise AssertionError("a photo of a forgotten identity was read")
        plain = FaceSet(object.__getattribute__(self, "images"), self.labels, self.names, self.sources)
        return plain.subset(indices)
