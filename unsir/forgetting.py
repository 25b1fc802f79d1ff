"""Forget identities from a loaded checkpoint with one or more methods, and measure the result (with
`evaluation`).

The single code path behind `unsir forget`, `unsir bench` and the app's Forget button.
"""
from __future__ import annotations

import difflib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from . import metrics
from .checkpoints import weights_sha256
from .data import FaceSet, Split
from .evaluation import (FEATURE_VARIANT, STRANGER_VARIANT, Predictions, forgetting_metrics, gaps_closed,
                         held_out_metrics, held_out_predictions)
from .features import FrozenStart, serving
from .methods import METHODS, configure
from .methods.base import ForgetRequest, Midway, Outcome, RetainOutputs
from .training import Progress, device_name

METHOD_SHARE = 0.85
NAME_SHOWN = 60  # characters of an unknown name repeated in the error message (not a pasted essay whole)
class ForgetError(ValueError):
    """A forget request that cannot be carried out, with a message a person can act on."""


def resolve_identities(requested, identities: list[str]) -> list[int]:
    """Class indices for identity names; clear errors for empty, unknown, duplicated or all."""
    names = [str(name).strip() for name in requested if str(name).strip()]
    if not names:
        raise ForgetError("Choose at least one identity to forget.")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ForgetError(f"Identities named more than once: {', '.join(duplicated)}.")
    unknown = [n for n in names if n not in identities]
    if unknown:
        hints = []
        for name in unknown[:3]:
            close = difflib.get_close_matches(name, identities, n=1)
            shown = name if len(name) <= NAME_SHOWN else name[:NAME_SHOWN] + "…"
            hints.append(f"{shown!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ForgetError(f"Unknown identities: {', '.join(hints)}. The model knows {len(identities)} people, "
                          "listed in its card.json.")
    if len(names) >= len(identities):
        raise ForgetError(f"Forgetting all {len(identities)} identities leaves nothing to recognise; keep at least one.")
    return [identities.index(n) for n in names]


def random_identities(count: int, identities: list[str], seed: int) -> list[str]:
    if not 1 <= count < len(identities):
        raise ForgetError(f"Choose between 1 and {len(identities) - 1} identities to forget at random, got {count}.")
    return sorted(random.Random(seed).sample(identities, count))


def build_request(train: FaceSet, forget_classes, num_classes: int, seed: int, zero_glance: bool = True,
                  start: FrozenStart | None = None, train_logits: torch.Tensor | None = None) -> ForgetRequest:
    """What a method may read: kept identities' training photos, plus (only for methods that are
    not zero-glance) the forgotten identities' ones. What the evaluation already computed for this very
    original on every training photo, `start` (`frozen_start`) and its logits, is passed on for the kept
    photos' rows only."""
    kept = (~torch.isin(train.labels, torch.as_tensor(list(forget_classes), dtype=torch.long))).nonzero().flatten()
    at_block = start.outputs["train"][kept] if start is not None and "train" in start.outputs else None
    known = RetainOutputs(logits=None if train_logits is None else train_logits[kept],
                          block=start.block if at_block is not None else "", at_block=at_block)
    return ForgetRequest(tuple(forget_classes), train.subset(kept), num_classes, seed,
                         forget_train=None if zero_glance else train.of_classes(forget_classes), retain_outputs=known)


@dataclass
class ForgetRun:
    """The report (JSON-able) and the unlearned models of one forget request."""

    report: dict
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    predictions: dict[str, Predictions] = field(default_factory=dict)


@dataclass(frozen=True)
class HeldOut:
    """A method's first answer, before the rest of its evaluation: the held-out accuracies
    (`held_out_metrics`) with its time and what it read, the original's for comparison, and the
    logit-mask control's (the original with the forgotten outputs hidden), which names nobody either."""

    method: str
    entry: dict
    original: dict
    device: str
    control: dict


def forget(original: nn.Module, card: dict, split: Split, forget_names, **options) -> ForgetRun:
    """Run each method (name -> config, None for its default) on a copy of `original` and measure it
    (`forget_stream`'s options; its last step)."""
    for step in forget_stream(original, card, split, forget_names, **options):
        pass
    return step


def forget_stream(
    original: nn.Module,
    card: dict,
    split: Split,
    forget_names,
    *,
    methods: dict[str, object],
    seed: int = 0,
    strangers: FaceSet | None = None,
    original_predictions: Predictions | None = None,
    start: FrozenStart | None = None,
    relearn: bool = False,
    progress: Progress | None = None,
) -> Iterator[Midway | HeldOut | ForgetRun]:
    """Run each method on a copy of `original`; yield what it shows part-way (`Midway`: UNSIR's noise, then
    its model after each impair), its `HeldOut` first answer as soon as its held-out photos are scored, and
    the whole `ForgetRun` last.

    Zero-glance methods receive only the kept identities' training photos; the forgotten
    identities' photos are handed to a method only if it is declared not zero-glance (NegGrad).
    `start` (`frozen_start`): the original's outputs at a block, to predict the models that share the
    blocks before it by running only the later ones.
    """
    forget_classes = resolve_identities(forget_names, split.names)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ForgetError(f"Unknown methods {unknown}: choose from {', '.join(METHODS)}." if unknown
                          else "Choose at least one method.")
    device = next(original.parameters()).device
    original_hash = weights_sha256(original)
    evaluating = time.perf_counter()
    original_predictions = original_predictions or Predictions.cached(original, split, strangers, original_hash)
    report = {
        "forget": [split.names[c] for c in forget_classes],
        "forget_classes": forget_classes,
        "checkpoint_arch": card["arch"],
        "dataset": card["dataset"]["name"],
        "seed": seed,
        "device": device_name(device),
        "mia_variant": metrics.MIA_VARIANT,
        "mia_auc_variant": metrics.MIA_AUC_VARIANT,
        "feature_variant": FEATURE_VARIANT,
        "stranger_variant": STRANGER_VARIANT,
        # The first answer needs only the original's held-out accuracies; the rest follows it.
        "original": {**held_out_metrics(original_predictions.test, split, forget_classes), "sha256": original_hash},
        "methods": {},
        "sha256": {"original": original_hash},
    }
    run = ForgetRun(report, predictions={"original": original_predictions})
    original_start = serving(start, original)
    # Predictions passed in may be another model's (the app passes its base model's for a chained request).
    original_logits = original_predictions.train if original_predictions.weights_sha256 == original_hash else None
    # The logit-mask control's held-out accuracies, derived from the original's: beside every first answer.
    control_held_out = held_out_metrics(original_predictions.with_classes_hidden(forget_classes).test, split, forget_classes)
    original_seconds = time.perf_counter() - evaluating
    for index, (name, config) in enumerate(methods.items()):
        def method_progress(stage, fraction, index=index):
            # The method takes the first 85 % of its share of the bar, its evaluation the rest.
            if progress:
                progress(f"{name}: {stage}", (index + METHOD_SHARE * fraction) / len(methods))

        declared = METHODS[name]
        request = build_request(split.train, forget_classes, len(split.names), seed, zero_glance=declared.zero_glance,
                                start=original_start, train_logits=original_logits)
        outcome = yield from declared.steps(original, request, config or configure(name, card), method_progress)
        outcome.zero_glance, outcome.control = declared.zero_glance, declared.control
        started = time.perf_counter()
        if progress:
            progress(f"{name}: evaluate", (index + METHOD_SHARE) / len(methods))
        described = {
            "seconds": round(outcome.seconds, 3),
            "stages": {stage: round(s, 3) for stage, s in outcome.stages.items()},
            "zero_glance": outcome.zero_glance,
            "control": outcome.control,
            "data_read": outcome.data_read,
        }
        served = serving(start, outcome.model)
        test = held_out_predictions(outcome.model, split, served)
        yield HeldOut(name, {**held_out_metrics(test[0], split, forget_classes), **described,
                             "stages": dict(described["stages"])}, dict(report["original"]), report["device"],
                      dict(control_held_out))
        if index == 0:
            # The original's every metric (its linear probe alone takes seconds), once the first answer is out;
            # not counted in this method's evaluation.
            paused = time.perf_counter()
            report["original"].update(forgetting_metrics(original_predictions, split, forget_classes, seed))
            original_seconds += time.perf_counter() - paused
            report["original"]["stages"] = {"evaluate": round(original_seconds, 3)}
            started += time.perf_counter() - paused
        predictions = Predictions.of(outcome.model, split, strangers, test=test, start=served)
        entry = {
            **forgetting_metrics(predictions, split, forget_classes, seed),
            **described,
            "hyperparameters": outcome.hyperparameters,
            "layer_distance_to_original": metrics.layer_distances(outcome.model, original),
            "sha256": weights_sha256(outcome.model),
        }
        if relearn:
            target = report["original"]["forget_test_acc"]
            entry["relearn_epochs"] = metrics.relearn_epochs(
                outcome.model, split.train, split.test.of_classes(forget_classes), target, seed=seed)
        entry["stages"]["evaluate"] = round(time.perf_counter() - started, 3)
        report["methods"][name] = entry
        report["sha256"][name] = entry["sha256"]
        run.outcomes[name] = outcome
        run.predictions[name] = predictions
    if "retrain" in run.outcomes:
        retrained = report["methods"]["retrain"]
        for name, outcome in run.outcomes.items():
            report["methods"][name]["layer_distance_to_retrain"] = metrics.layer_distances(
                outcome.model, run.outcomes["retrain"].model)
            if name != "retrain":
                report["methods"][name]["gap_closed"] = gaps_closed(report["original"], report["methods"][name],
                                                                    retrained)
    if weights_sha256(original) != original_hash:
        raise RuntimeError("The original model changed during unlearning; this is a bug.")
    yield run
