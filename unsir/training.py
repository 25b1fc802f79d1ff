"""The one training loop (`fit`) and the recipes built on it.

Original training, UNSIR's impair and repair, retraining, fine-tuning, NegGrad and the
relearn-time measurement all train through `fit`.
"""
from __future__ import annotations

import functools
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from . import convolutions, distributed
from .data import FaceSet, FaceTensors, normalise
from .nets import evaluating

# progress(stage, fraction_done): lets the CLI print and the UI draw a progress bar.
Progress = Callable[[str, float], None]
# loss(model, inputs, labels, *the batch's other tensors, e.g. a teacher's outputs) -> scalar loss
LossFn = Callable[..., torch.Tensor]
# bf16 convolutions on maps at least this wide run faster channels-last (oneDNN's AMX kernels, tensor
# cores): on 64 px photos, inference +30 % (ResNet18) and +10 % (ViT) on this CPU. On the 8x8 maps after
# UNSIR's frozen blocks, inference ran 15 % slower and a training step 5-20 % slower in short
# measurements here; benchmarks/THROUGHPUT.md's bare steps do not separate the two layouts there.
CHANNELS_LAST_FROM = 32
# Workers decoding streamed photos (data.PhotoFiles) for one training process: the node's cores shared
# by the processes torchrun started on it.
DECODING_WORKERS = min(8, max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device | str | None = None) -> str:
    device = torch.device(device or default_device())
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@functools.lru_cache
def bf16_helps(device: torch.device) -> bool:
    """bf16 autocast pays off on GPUs and on CPUs with native bf16 (AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:  # not Linux: stay in float32
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def channels_last_pays(batch: torch.Tensor) -> bool:
    """Whether bf16 convolutions on this batch run faster channels-last: image-like maps, wide enough."""
    return batch.dim() == 4 and batch.shape[-1] >= CHANNELS_LAST_FROM


def cross_entropy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(inputs), labels)


def fit(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int = 1,
    loss_fn: LossFn = cross_entropy,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    autocast: bool = False,
    channels_last: bool | None = None,
    stage: str = "train",
    progress: Progress | None = None,
    frozen_norm: bool = False,
    max_grad_norm: float | None = None,
) -> list[float]:
    """Train `model` for `epochs` over `loader`; returns the mean loss of each epoch.

    The scheduler (if any) steps once per batch. Under torchrun the ranks train one model together:
    DistributedDataParallel, each rank reading its shard of `loader` and drawing its own augmentations, losses
    averaged over the ranks, progress reported by rank 0 only. A process running alone
    (or inside `distributed.independent()`) trains exactly as a plain loop. `channels_last` (default:
    with autocast) trains on channels-last activations; a caller training on small maps passes
    `channels_last_pays(its inputs)`. `max_grad_norm`: each step's gradient is scaled down to at most this
    norm (all of the model's weights together) before the optimiser steps.
    """
    group = distributed.training_ranks()
    loader = distributed.shard(loader, group)
    # The weights go back to the usual layout when training ends.
    channels_last = autocast if channels_last is None else channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)  # before DDP wraps it, as DDP requires
    trained = distributed.data_parallel(model, group)
    progress = progress if distributed.is_main() else None
    device = next(model.parameters()).device
    total = max(1, epochs * len(loader))
    losses, step = [], 0
    model.train()
    if frozen_norm:
        # BatchNorm normalises with its running statistics and leaves them as they are.
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
    try:
        # On a CPU in bf16, convolutions on tiny maps run as matrix products (unsir/convolutions.py).
        with (convolutions.tiny_maps_as_matmul(model, enabled=convolutions.pays(device, autocast)),
              distributed.own_random_draws(group)):
            for _ in range(epochs):
                # Summed on the device, in float64 as Python's floats summed it: read once per epoch,
                # not once per step (a read waits for the GPU to finish every queued step).
                running, batches = torch.zeros((), dtype=torch.float64, device=device), 0
                for inputs, *targets in loader:
                    inputs = inputs.to(device, non_blocking=True)
                    targets = [target.to(device, non_blocking=True) for target in targets]
                    if channels_last and inputs.dim() == 4:
                        inputs = inputs.contiguous(memory_format=torch.channels_last)
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                        loss = loss_fn(trained, inputs, *targets)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                    optimizer.step()
                    if scheduler is not None:
                        scheduler.step()
                    running += loss.detach()
                    batches, step = batches + 1, step + 1
                    if progress:
                        progress(stage, step / total)
                losses.append(distributed.mean_across(running.item() / max(1, batches), group))
                if group is not None:
                    # A new shuffle for the loader's next pass, the same on every rank, counted by the loader
                    # itself: a method that calls fit once per pass (SCRUB) would otherwise repeat one order.
                    loader.sampler.set_epoch(loader.sampler.epoch + 1)
        distributed.average_buffers(model, group)
    finally:
        if channels_last:
            model.to(memory_format=torch.contiguous_format)
    return losses


def fused_step(model: nn.Module) -> bool:
    """Whether the optimiser's fused step (one kernel updates every weight, where the default issues
    several per weight) runs on the model's device. On the 2-core CPU (a short timing beside other jobs)
    an SGD step of the whole ResNet18 took 7 ms fused, 34 ms not; under torchrun every rank repeats it,
    so it also bounds the speed-up."""
    return next(model.parameters()).device.type in ("cpu", "cuda")


@torch.no_grad()
def predict_outputs(model: nn.Module, faces: FaceSet | torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """The model's outputs (float32, on the CPU; a classifier's logits) for uint8 images or normalised
    inputs, model in eval mode."""
    images = faces.images if isinstance(faces, FaceSet) else faces
    device = next(model.parameters()).device
    use_bf16 = bf16_helps(device)
    outputs = []
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            batch = (normalise(batch) if batch.dtype == torch.uint8 else batch).to(device)
            if use_bf16 and channels_last_pays(batch):
                batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                outputs.append(model(batch).float().cpu())
    return torch.cat(outputs) if outputs else torch.zeros(0)


def loader(dataset: Dataset, batch_size: int, generator: torch.Generator, shuffle: bool = True) -> DataLoader:
    """Batches of `dataset`; under torchrun each rank's shard of them (`batch_size` stays the global batch),
    so that a scheduler sized by len(loader) matches the steps `fit` takes."""
    # Streamed photos are decoded in worker processes, in parallel with training.
    workers = DECODING_WORKERS if getattr(dataset, "decodes_from_disk", False) else 0
    batches = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=False,
                         num_workers=workers, persistent_workers=workers > 0)
    return distributed.shard(batches, distributed.training_ranks())


@dataclass
class Recipe:
    """How a model is trained from scratch (recorded in its card; reused by retrain)."""

    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "sgd"  # "sgd" (nesterov) or "adamw"
    max_lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    distill_alpha: float = 0.0  # weight of the teacher's soft labels (DeiT-style); 0 = none
    distill_temperature: float = 4.0
    autocast: bool = True  # bf16 where the device has it (see bf16_helps)
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def recipe_for(arch: str, **overrides) -> Recipe:
    """Defaults that train each architecture from scratch on LFW-100 at 64 px on a CPU."""
    if arch == "vit":
        base = Recipe(epochs=40, batch_size=64, optimizer="adamw", max_lr=2e-3, weight_decay=0.05,
                      distill_alpha=0.7)
    else:
        base = Recipe()
    return Recipe(**{**base.to_dict(), **{k: v for k, v in overrides.items() if v is not None}})


def kl_to(logits: torch.Tensor, target: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """KL(target || softmax(logits / T)), averaged over the photos; `target` a probability vector per row."""
    return F.kl_div(F.log_softmax(logits.float() / temperature, dim=1), target, reduction="batchmean")


def soft_label_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, alpha: float,
                    temperature: float, label_smoothing: float) -> torch.Tensor:
    """Hard labels mixed with a teacher's softened predictions (Hinton et al.; DeiT's soft distillation)."""
    soft = kl_to(logits, F.softmax(teacher_logits.float() / temperature, dim=1), temperature)
    hard = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    return (1 - alpha) * hard + alpha * temperature**2 * soft


def distillation_loss(teacher: nn.Module, alpha: float, temperature: float, label_smoothing: float) -> LossFn:
    """Distil a frozen teacher that sees each batch as the student does (augmented photos change every epoch)."""
    teacher.eval()

    def loss(model, inputs, labels):
        logits = model(inputs)
        with torch.no_grad():
            teacher_logits = teacher(inputs)
        return soft_label_loss(logits, teacher_logits, labels, alpha, temperature, label_smoothing)

    return loss


def distillation_from_outputs(alpha: float, temperature: float, label_smoothing: float) -> LossFn:
    """Distil a teacher whose outputs come with each batch (data.WithOutputs): for inputs that never
    change, the teacher runs once, not at every step of every epoch."""

    def loss(model, inputs, labels, teacher_logits):
        return soft_label_loss(model(inputs), teacher_logits, labels, alpha, temperature, label_smoothing)

    return loss


def train_from_scratch(
    model: nn.Module,
    train: FaceSet,
    recipe: Recipe,
    *,
    teacher: nn.Module | None = None,
    progress: Progress | None = None,
    stage: str = "train",
) -> nn.Module:
    """Train `model` on `train` with `recipe` (one-cycle schedule, flips and small crops)."""
    generator = seed_everything(recipe.seed)
    batches = loader(FaceTensors(train, augment=True), recipe.batch_size, generator)
    if recipe.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=recipe.max_lr, momentum=0.9, nesterov=True,
                                    weight_decay=recipe.weight_decay, fused=fused_step(model))
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.max_lr, weight_decay=recipe.weight_decay,
                                      fused=fused_step(model))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.max_lr,
                                                    total_steps=recipe.epochs * len(batches), pct_start=0.25)
    if teacher is not None and recipe.distill_alpha > 0:
        loss_fn = distillation_loss(teacher, recipe.distill_alpha, recipe.distill_temperature, recipe.label_smoothing)
    else:
        def loss_fn(net, inputs, labels):
            return F.cross_entropy(net(inputs), labels, label_smoothing=recipe.label_smoothing)
    fit(model, batches, optimizer, epochs=recipe.epochs, loss_fn=loss_fn, scheduler=scheduler,
        autocast=recipe.autocast and bf16_helps(next(model.parameters()).device), stage=stage, progress=progress)
    return model.eval()
