"""What a model holds inside: its penultimate features (the input of the identity classifier).

Hiding a person at the output leaves them in the features, where a nearest-neighbour search or a
linear probe finds them again; the feature metrics (`metrics.knn_predictions`,
`metrics.probe_predictions`) and the 2-D map below look there. This is evaluation: no
unlearning method reads the forgotten photos through this module.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import FaceSet
from .nets import blocks, classifier, split_at, state_before
from .training import predict_outputs

MAP_KEPT_SAMPLE = 400  # kept people's photos drawn for the map's background


def predict_with_features(model: nn.Module, faces: FaceSet | torch.Tensor, batch_size: int = 256,
                          head: nn.Linear | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, penultimate features) in float32 on the CPU, from the one prediction pass
    (`training.predict_outputs`), with the input of the classifier `head` (default: the model's) captured
    on the way. `faces`: photos, or the inputs of a model's later blocks (see FrozenStart)."""
    head = head or classifier(model)
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _module, inputs, _output: captured.append(inputs[0].float().cpu()))
    try:
        logits = predict_outputs(model, faces, batch_size)
    finally:
        hook.remove()
    if not captured:
        return torch.zeros(0, head.out_features), torch.zeros(0, head.in_features)
    return logits, torch.cat(captured)


@dataclass(frozen=True)
class FrozenStart:
    """A model's outputs at the start of `block` for each set of photos, by name. A model that shares every
    weight before `block` with it (UNSIR's default trains only the later blocks) is predicted from these by
    running only its later blocks: at 64 px the ResNet18's stem, layer1 and layer2 are most of the work."""

    block: str
    weights_before: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]

    @classmethod
    def of(cls, model: nn.Module, block: str, photos: dict[str, FaceSet]) -> FrozenStart:
        head_end = split_at(model, block)[0]
        return cls(block, {name: value.clone() for name, value in state_before(model, block).items()},
                   {name: predict_outputs(head_end, faces) for name, faces in photos.items()})

    def serves(self, model: nn.Module) -> bool:
        """Whether `model` has the very weights before `block` that these outputs came from."""
        if self.block not in blocks(model):
            return False
        mine = state_before(model, self.block)
        return mine.keys() == self.weights_before.keys() and all(
            torch.equal(value, self.weights_before[name]) for name, value in mine.items())

    def predict(self, model: nn.Module, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """`predict_with_features` of a model it serves, on the photos called `name`."""
        return predict_with_features(split_at(model, self.block)[1], self.outputs[name], head=classifier(model))


def serving(start: FrozenStart | None, model: nn.Module) -> FrozenStart | None:
    """`start` where it serves `model` (`FrozenStart.serves`), else None."""
    return start if start is not None and start.serves(model) else None


def feature_map(features: torch.Tensor, seed: int = 0) -> np.ndarray:
    """2-D coordinates of feature vectors (t-SNE on cosine distances) for a scatter plot.

    t-SNE rather than UMAP: umap-learn compiles its kernels with numba on first use, which costs
    a visitor tens of seconds on a CPU Space; scikit-learn's t-SNE maps a few hundred points in
    about a second. 500 iterations, not scikit-learn's 1,000: on the shipped ResNet18's map of 450
    held-out photos the map keeps each photo's neighbours as well (trustworthiness 0.963 either way)
    in two-thirds of the time, and the app draws two maps per request."""
    from sklearn.manifold import TSNE

    points = features.numpy()
    if len(points) < 5:
        return np.zeros((len(points), 2))
    return TSNE(n_components=2, metric="cosine", init="pca", perplexity=min(30, len(points) // 4), max_iter=500,
                random_state=seed).fit_transform(points)


def map_sample(labels: torch.Tensor, forget_classes, seed: int = 0) -> torch.Tensor:
    """Indices for a map: every photo of the forgotten people and a seeded sample of the kept."""
    forgotten = torch.isin(labels, torch.as_tensor(list(forget_classes)))
    kept = (~forgotten).nonzero().flatten()
    generator = torch.Generator().manual_seed(seed)
    kept = kept[torch.randperm(len(kept), generator=generator)[:MAP_KEPT_SAMPLE]]
    return torch.cat([forgotten.nonzero().flatten(), kept]).sort().values
