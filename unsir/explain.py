"""GradCAM heatmaps (pytorch-grad-cam) of what a face model looks at when it names a person."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from .data import denormalise, normalise
from .nets import cam_layer, evaluating


def _vit_tokens_to_map(tokens: torch.Tensor) -> torch.Tensor:
    """[B, 1 + h*w, C] ViT tokens -> [B, C, h, w] (drop the class token) so GradCAM can pool them."""
    patches = tokens[:, 1:, :]
    side = int(patches.shape[1] ** 0.5)
    return patches.reshape(patches.shape[0], side, side, patches.shape[2]).permute(0, 3, 1, 2)


@dataclass
class Explanation:
    overlay: np.ndarray  # uint8 HxWx3: the photo with the heatmap on top
    predicted: int  # class the heatmap explains
    confidence: float  # its softmax probability


def gradcam(model: nn.Module, images_u8: torch.Tensor, classes: list[int] | None = None) -> list[Explanation]:
    """Heatmaps for `classes` (default: each photo's predicted class), one per photo."""
    device = next(model.parameters()).device
    inputs = normalise(images_u8).to(device)
    with evaluating(model):
        with torch.no_grad():
            probabilities = model(inputs).float().softmax(1).cpu()
        explained = classes if classes is not None else probabilities.argmax(1).tolist()
        reshape = None if hasattr(model, "layer4") else _vit_tokens_to_map
        # The context manager removes the hooks, so the model is left as it was.
        with GradCAM(model=model, target_layers=[cam_layer(model)], reshape_transform=reshape) as cam:
            heatmaps = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(c) for c in explained])
    photos = denormalise(inputs.cpu()).permute(0, 2, 3, 1).numpy().astype(np.float32)
    return [
        Explanation(show_cam_on_image(photo, heatmap, use_rgb=True), cls, float(probabilities[i, cls]))
        for i, (photo, heatmap, cls) in enumerate(zip(photos, heatmaps, explained))
    ]
