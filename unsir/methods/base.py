"""What every unlearning method shares: the request (what to forget, what it may read) and the outcome."""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from numbers import Real
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import FaceSet
from ..nets import block_names
from ..training import Progress, bf16_helps


@dataclass(frozen=True)
class RetainOutputs:
    """The original model's outputs on the retain photos, already computed for the evaluation (the app
    and `unsir bench` hold them), so a method need not run the original on those photos again. Row i
    belongs to `ForgetRequest.retain`'s photo i: like the retain photos, no row is a forgotten identity's."""

    logits: torch.Tensor | None = None
    block: str = ""  # where `at_block` was taken (`features.FrozenStart`)
    at_block: torch.Tensor | None = None  # the outputs of the blocks before `block`


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
    retain_outputs: RetainOutputs = RetainOutputs()

    def __post_init__(self):
        leaked = torch.isin(self.retain.labels, torch.tensor(self.forget_classes)).any()
        if leaked:
            raise ValueError("The retain data holds photos of identities to forget.")
        known = self.retain_outputs
        if any(rows is not None and len(rows) != len(self.retain) for rows in (known.logits, known.at_block)):
            raise ValueError("The original's outputs on the retain photos must have one row per retain photo.")

    def forget_photos(self, method: str) -> FaceSet:
        """The forgotten identities' training photos, for a method that is not zero-glance."""
        if self.forget_train is None or not len(self.forget_train):
            raise ValueError(f"{method} needs the forgotten identities' training photos (it is not zero-glance).")
        return self.forget_train

    def forgotten_and_kept(self, method: str, per_class: int | None) -> tuple[FaceSet, FaceSet, str]:
        """The forgotten photos, a seeded retain subset, and the `data_read` sentence that counts both."""
        forget, retain = self.forget_photos(method), self.retain_subset(per_class)
        return forget, retain, (f"{len(forget)} training photos of the forgotten identities (NOT zero-glance) "
                                f"+ {len(retain)} training photos of kept identities (retain subset)")

    def retain_subset(self, per_class: int | None) -> FaceSet:
        """A seeded random sample of `per_class` training photos per kept identity (None: all)."""
        return self.retain if per_class is None else self.retain.subset(self.retain_indices(per_class))

    def retain_indices(self, per_class: int) -> list[int]:
        """Which of `retain`'s photos `retain_subset(per_class)` holds, in order."""
        rng = random.Random(self.seed)
        chosen = []
        labels = self.retain.labels
        for label in sorted(set(labels.tolist())):
            members = (labels == label).nonzero().flatten().tolist()
            chosen += rng.sample(members, min(per_class, len(members)))
        return sorted(chosen)

    def retain_inputs_at(self, block: str, retain_indices) -> torch.Tensor | None:
        """The original's outputs at the start of `block` for these retain photos, where already computed."""
        known = self.retain_outputs
        if known.at_block is None or known.block != block:
            return None
        return known.at_block[torch.as_tensor(retain_indices, dtype=torch.long)]

    def original_logits(self, retain_indices) -> torch.Tensor | None:
        """The original's logits on these retain photos, where already computed."""
        logits = self.retain_outputs.logits
        return None if logits is None else logits[torch.as_tensor(retain_indices, dtype=torch.long)]


def setting(default, low: float | None = None, high: float | None = None, help: str = ""):
    """A config field a person may set, declared once: its range and help make the CLI flag, the
    validation and the app's field. Without a range it is a choice the method checks itself."""
    return field(default=default, metadata={"range": None if low is None else (low, high), "help": help})


def learn_from_setting():
    """The setting naming the first block that learns; the blocks before it stay frozen."""
    return setting("", help="first block that learns, e.g. layer3; the earlier ones stay frozen (empty: every block)")


def check_learn_from(block: str, arch: str | None) -> None:
    """Raise ValueError unless `block` (a `learn_from` setting) is empty or a block after the first of `arch`."""
    # The first block would be the same as every block learning (learn_from empty).
    if block and arch is not None and block not in block_names(arch)[1:]:
        raise ValueError(f"learn_from: no block {block!r} after the first in the {arch}; choose one "
                         f"of {', '.join(block_names(arch)[1:])}.")


def settings(config_type) -> dict:
    """The fields of a method's config that a person may set, by name."""
    return {f.name: f for f in fields(config_type) if "help" in f.metadata}


def check_settings(config, arch: str | None = None) -> None:
    """Raise ValueError naming every setting of `config` outside its declared range, and the range
    (and, given the model's architecture, any setting that names a part it does not have)."""
    problems = []
    for name, f in settings(type(config)).items():
        value, bounds = getattr(config, name), f.metadata["range"]
        if bounds is None or (value is None and "None" in str(f.type)):  # None: "no limit", where allowed
            continue
        low, high = bounds
        if isinstance(value, bool) or not isinstance(value, Real) or not low <= value <= high:
            problems.append(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    if problems:
        raise ValueError("; ".join(problems) + ".")
    if hasattr(config, "validate"):
        config.validate(arch)


@dataclass(frozen=True)
class Method:
    """One unlearning method, declared once in its module as METHOD: the registry, the CLI, the
    app's choices and labels, and the benchmark's columns all come from here."""

    name: str  # as typed: --methods NAME, the report's key
    label: str  # as shown
    # (original, ForgetRequest, config, progress) -> Outcome, or a generator that yields what it shows part-way
    # (`Midway`) and returns the Outcome: call it through `steps` or `outcome`.
    run: Callable[..., "Outcome | Generator[Midway, None, Outcome]"]
    config: type  # a frozen dataclass; its `setting` fields are what a person may change
    zero_glance: bool  # never reads a photo of a forgotten identity
    control: bool = False  # only hides the output: shown beside the methods, not unlearning
    order: int = 50  # place among the methods of its group
    arch_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # arch -> overrides
    # arch -> tiers (from how many people forgotten, overrides on top of arch_defaults), the sizes ascending
    size_defaults: Mapping[str, tuple[tuple[int, Mapping[str, Any]], ...]] = field(default_factory=dict)
    make_defaults: Callable[[dict], Any] | None = None  # card -> config, when the card decides (retrain)
    presets: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)  # name -> (arch -> config)
    summary: str = ""  # one line: what it does, for the CLI's help and the app
    # arch -> what its sweep found where no setting met the target: said before it runs on such a model
    untuned: Mapping[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        if self.control:
            return "controls (hide the output; not unlearning)"
        return "never looks at the forgotten photos" if self.zero_glance else "reads the forgotten photos"

    def caution(self, arch: str) -> str | None:
        """A warning for a model this method's settings were not found for, or None."""
        if arch not in self.untuned:
            return None
        return (f"{self.label} has no settings tested safe for the {arch}: {self.untuned[arch]} "
                f"(benchmarks/SWEEP-methods-{arch}.md). It runs with its default settings.")

    def steps(self, original: nn.Module, request: ForgetRequest, config, progress: Progress | None = None
              ) -> Generator[Midway, None, Outcome]:
        """Run the method, yielding what it shows part-way (UNSIR does); returns its Outcome."""
        run = self.run(original, request, config, progress)
        if not isinstance(run, Generator):
            return run
        return (yield from run)

    def outcome(self, original: nn.Module, request: ForgetRequest, config, progress: Progress | None = None) -> Outcome:
        """Run the method to its end."""
        return to_the_end(self.steps(original, request, config, progress))

    def defaults(self, card: dict, forget_count: int | None = None):
        """The settings for this model (and for that many people forgotten, where the count is known)."""
        if self.make_defaults is not None:
            return self.make_defaults(card)
        config = replace(self.config(), **self.arch_defaults.get(card["arch"], {}))
        if forget_count is None:
            return config
        tiers = self.size_defaults.get(card["arch"], ())
        reached = [changes for from_count, changes in tiers if forget_count >= from_count]
        return replace(config, **reached[-1]) if reached else config


@dataclass
class Outcome:
    """An unlearned model, its own wall time (evaluation excluded) and what it read."""

    model: nn.Module
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    data_read: str = ""
    zero_glance: bool = True  # set from the method's declaration by `forget`
    control: bool = False
    hyperparameters: dict = field(default_factory=dict)
    noise: torch.Tensor | None = None  # UNSIR's learned inputs (normalised), for display

    @property
    def seconds(self) -> float:
        return sum(self.stages.values())


@dataclass
class Midway:
    """What a method has made part-way, worth showing before it ends: UNSIR's learned noise, then its model
    after each impair. The model is the method's own and goes on training at the next step: measure it (in
    eval mode, as `predict_outputs` does) before asking for that step."""

    stage: str  # the stage just finished
    seconds: float  # the method's own seconds so far
    noise: torch.Tensor | None = None
    model: nn.Module | None = None


def to_the_end(steps: Generator[Midway, None, Outcome]) -> Outcome:
    """The Outcome of a method's `midway` run, its steps passed over."""
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value


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


def batch_gradients(model: nn.Module, photos: Dataset, batch_size: int):
    """Per batch of `photos` (in order, eval mode): its size and the gradient of its mean cross-entropy for
    each parameter, by name. No optimiser: the weights are unchanged. The caller reduces them."""
    device = next(model.parameters()).device
    model.eval()
    for inputs, labels in DataLoader(photos, batch_size=batch_size):
        model.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_helps(device)):
            logits = model(inputs.to(device))
        F.cross_entropy(logits.float(), labels.to(device)).backward()
        yield len(labels), {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
