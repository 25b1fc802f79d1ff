"""What every unlearning method shares: the request (what to forget, what it may read) and the outcome."""
from __future__ import annotations

import random
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from ..data import FaceSet
from ..training import Progress


@dataclass(frozen=True)
class ForgetRequest:
    """The identities to forget and the only training data a zero-glance method may read.

    `retain` holds training photos of kept identities only; photos of forgotten identities are
    reachable solely through `forget_train`, which the pipeline fills for methods that are not
    zero-glance (NegGrad) and leaves empty otherwise.
    """

    forget_classes: tuple[int, ...]
    retain: FaceSet
    num_classes: int
    seed: int = 0
    forget_train: FaceSet | None = None

    def __post_init__(self):
        leaked = torch.isin(self.retain.labels, torch.tensor(self.forget_classes)).any()
        if leaked:
            raise ValueError("The retain data holds photos of identities to forget.")

    def retain_subset(self, per_class: int | None) -> FaceSet:
        """A seeded random sample of `per_class` training photos per kept identity (None: all)."""
        if per_class is None:
            return self.retain
        rng = random.Random(self.seed)
        chosen = []
        labels = self.retain.labels
        for label in sorted(set(labels.tolist())):
            members = (labels == label).nonzero().flatten().tolist()
            chosen += rng.sample(members, min(per_class, len(members)))
        return self.retain.subset(sorted(chosen))


@dataclass
class Outcome:
    """An unlearned model, its own wall time (evaluation excluded) and what it read."""

    model: nn.Module
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    data_read: str = ""
    zero_glance: bool = True
    control: bool = False  # a control that only hides the output: shown beside the methods, not unlearning
    hyperparameters: dict = field(default_factory=dict)
    noise: torch.Tensor | None = None  # UNSIR's learned inputs (normalised), for display

    @property
    def seconds(self) -> float:
        return sum(self.stages.values())


@contextmanager
def timed(stages: dict[str, float], name: str):
    """Add the wall time of the block to `stages[name]` (CUDA work included)."""
    started = time.perf_counter()
    yield
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    stages[name] = stages.get(name, 0.0) + time.perf_counter() - started


def scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    """Map a sub-task's 0..1 progress onto [start, end] of the whole."""
    if progress is None:
        return None
    return lambda stage, fraction: progress(stage, start + (end - start) * fraction)
