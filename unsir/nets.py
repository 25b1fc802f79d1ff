"""Face-recognition networks built from torchvision, sized for small face crops."""
from __future__ import annotations

import functools
from contextlib import contextmanager

import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18
from torchvision.models.vision_transformer import ConvStemConfig, VisionTransformer

ARCHITECTURES = ("resnet18", "vit")
VIT_PATCH = 8


class ModelError(ValueError):
    """A model that cannot be built or loaded, with a message a person can act on."""


def build_model(arch: str, num_classes: int, image_size: int = 64, init: str | None = None) -> nn.Module:
    """A `resnet18` or a small `vit` (patch 8, convolutional stem) for `image_size` inputs.

    `init="imagenet"` starts ResNet18 from torchvision's ImageNet weights (downloaded; best at 224 px).
    """
    if arch == "resnet18":
        model = resnet18(weights=_imagenet_weights() if init == "imagenet" else None)
        model.fc = nn.Linear(model.fc.in_features, num_classes)
        return model
    if arch == "vit":
        if init == "imagenet":
            raise ModelError("ImageNet weights are offered for resnet18 only; train the vit from scratch (init=None).")
        if image_size % VIT_PATCH:
            raise ModelError(f"The vit needs an image size divisible by {VIT_PATCH}, got {image_size}.")
        # A convolutional stem (Xiao et al., 2021) makes a small ViT trainable from scratch on few faces.
        # Sized for a 2-core CPU: 1.1 M parameters, about 0.3 s per training batch of 64.
        stem = [ConvStemConfig(out_channels=c, kernel_size=3, stride=2) for c in (32, 64, 128)]
        return VisionTransformer(
            image_size=image_size, patch_size=VIT_PATCH, num_layers=6, num_heads=4, hidden_dim=128,
            mlp_dim=384, num_classes=num_classes, conv_stem_configs=stem, dropout=0.0, attention_dropout=0.0,
        )
    raise ModelError(f"Unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}.")


def _imagenet_weights():
    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        weights.get_state_dict(progress=False)  # fetch (or find in torch's cache) before building
    except Exception as error:
        raise ModelError(
            f"Could not download torchvision's ImageNet weights ({error}). Train from scratch instead "
            "(omit --init), or run once on a machine with internet access to fill torch's cache."
        ) from error
    return weights


def architecture(model: nn.Module) -> str:
    """The name `build_model` knows this model's architecture by."""
    return "vit" if isinstance(model, VisionTransformer) else "resnet18"


def classifier(model: nn.Module) -> nn.Linear:
    """The final identity classifier (per-layer learning rates treat it apart)."""
    return model.fc if hasattr(model, "fc") else model.heads.head


def cam_layer(model: nn.Module) -> nn.Module:
    """The layer whose activations GradCAM explains."""
    return model.layer4[-1] if hasattr(model, "layer4") else model.encoder.layers[-1].ln_1


def blocks(model: nn.Module) -> list[str]:
    """The model's blocks in forward order, by module name (what "which blocks learn" settings name)."""
    if isinstance(model, VisionTransformer):
        layers = [f"encoder.layers.{name}" for name, _ in model.encoder.layers.named_children()]
        return ["conv_proj", *layers, "encoder.ln", "heads"]
    return [name for name, module in model.named_children() if any(True for _ in module.parameters())]


@functools.lru_cache
def block_names(arch: str) -> tuple[str, ...]:
    """The blocks of every model of this architecture (checked before a model is at hand)."""
    return tuple(blocks(build_model(arch, 2)))


class _VitTokens(nn.Module):
    """The ViT up to its encoder layers: patches embedded, the class token put first, positions added."""

    def __init__(self, vit: VisionTransformer):
        super().__init__()
        self.conv_proj = vit.conv_proj  # the stem itself, so that eval() and the device reach its BatchNorm
        self.vit = (vit,)  # the rest by reference (class token, positions), not as a submodule

    def forward(self, images):
        vit = self.vit[0]
        tokens = vit._process_input(images)
        tokens = torch.cat([vit.class_token.expand(len(tokens), -1, -1), tokens], dim=1)
        return vit.encoder.dropout(tokens + vit.encoder.pos_embedding)


class _ClassToken(nn.Module):
    def forward(self, tokens):
        return tokens[:, 0]


def split_at(model: nn.Module, block: str) -> tuple[nn.Module, nn.Module]:
    """(head end, tail): `tail(head_end(x)) == model(x)`, the tail starting at `block` (not the first).

    Both are made of the model's own modules: training the tail trains the model."""
    if isinstance(model, VisionTransformer):
        layers = [(f"encoder.layers.{name}", layer) for name, layer in model.encoder.layers.named_children()]
        steps = [("conv_proj", _VitTokens(model)), *layers, ("encoder.ln", model.encoder.ln),
                 ("class token", _ClassToken()), ("heads", model.heads)]
    else:
        steps = []
        for name, module in model.named_children():
            if module is classifier(model):
                steps.append(("flatten", nn.Flatten(1)))
            steps.append((name, module))
    cut = [name for name, _ in steps].index(block)
    if cut == 0:
        raise ValueError(f"Nothing comes before {block!r}: the whole model is the tail.")
    return nn.Sequential(*[m for _, m in steps[:cut]]), nn.Sequential(*[m for _, m in steps[cut:]])


def state_before(model: nn.Module, block: str) -> dict[str, torch.Tensor]:
    """The weights and buffers used before `block` (a ViT's class token and positions included): what a
    model must share with another for the two to give every input the same output at `block`."""
    order = blocks(model)
    later = tuple(name + "." for name in order[order.index(block):])
    return {name: value for name, value in model.state_dict().items() if not name.startswith(later)}


class _Frozen(nn.Module):
    """Blocks that do not learn: in eval mode whatever their parent's mode (BatchNorm keeps its statistics)."""

    def __init__(self, blocks: nn.Module):
        super().__init__()
        self.blocks = blocks

    def train(self, mode: bool = True):
        return super().train(False)

    def forward(self, inputs):
        return self.blocks(inputs)


@contextmanager
def evaluating(model: nn.Module):
    """`model` in eval mode while the context lasts, then back in the mode it was in (an error too)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextmanager
def learning_from(model: nn.Module, block: str):
    """While the context lasts, `model` as a module in which only `block` and the blocks after it learn
    (empty `block`: every block). The earlier blocks stay in eval mode and take no gradient; training
    the module trains the model's own later blocks. Unlike UNSIR's `split_at`, the frozen blocks run at
    every step: for methods whose inputs and teachers are whole photos."""
    if not block:
        yield model
        return
    head_end, tail = split_at(model, block)
    learning = {id(p) for p in tail.parameters()}
    frozen = [p for p in model.parameters() if id(p) not in learning and p.requires_grad]
    for p in frozen:  # not merely unused: DistributedDataParallel expects a gradient for every trainable weight
        p.requires_grad_(False)
    try:
        yield nn.Sequential(_Frozen(head_end), tail)
    finally:
        for p in frozen:
            p.requires_grad_(True)
