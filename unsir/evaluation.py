"""How far a model forgot, as numbers: its predictions on every photo the metrics need (computed once per
model), the report's keys computed from them (held-out accuracies, membership attacks, stranger distance,
the features), and each against the original and a retrained model.

`forgetting` runs the methods; this measures what they leave. Each metric itself is one function in `metrics`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from . import distributed, metrics
from .checkpoints import write_then_replace
from .data import FaceSet, Split, cache_dir
from .features import FrozenStart, predict_with_features, serving
from .methods import configure
from .methods.base import Midway
from .training import bf16_helps, device_name, predict_outputs

STRANGER_VARIANT = ("Kolmogorov-Smirnov distance between max-softmax confidence on every photo of the forgotten "
                    "identities and on one photo each of LFW people never trained on")


# Forgetting evidence measured as the share of the original->retrain gap a method closes.
GAP_METRICS = ("forget_test_acc", "feature_knn_forget_acc", "feature_probe_forget_acc", "mia_auc_forget",
               "stranger_ks")
# Those whose chance level is a value, not zero: a membership AUC tells as much below 0.5 as above it.
CHANCE = {"mia_auc_forget": 0.5}


# A kNN on the forgotten people's held-out photos that falls less than this below the original's has not moved
# them in the features: on a forget set of one or two people that is a photo or two.
KNN_MOVED_AT_LEAST = 0.05


def knn_moved(before: float | None, after: float | None) -> bool | None:
    """Whether a kNN accuracy on forgotten photos fell at least KNN_MOVED_AT_LEAST from `before` to `after` (for a
    forget set, or one person); None where either was not measured."""
    if before is None or after is None or before != before or after != after:
        return None
    return after <= before - KNN_MOVED_AT_LEAST


def moved_in_features(original: dict, method: dict) -> bool | None:
    """Whether a method moved the forgotten people in the features (its kNN at least KNN_MOVED_AT_LEAST below the
    original's); None where the features were not measured. Not forgetting by itself: a retrained model, which
    never saw them, may find them as often as the original does."""
    return knn_moved(original.get("feature_knn_forget_acc"), method.get("feature_knn_forget_acc"))


FEATURE_VARIANT = ("penultimate features of the frozen model; 5-nearest-neighbours (cosine) and a multinomial "
                   "logistic regression, both fit on the training photos of every identity (the forgotten included) "
                   "and scored on held-out photos")


@dataclass
class Predictions:
    """A model's logits on every photo the metrics need (computed once per model)."""

    train: torch.Tensor
    test: torch.Tensor
    strangers: torch.Tensor
    train_features: torch.Tensor | None = None  # penultimate features, for the feature metrics
    test_features: torch.Tensor | None = None
    # Whom the k-NN and the probe find among the held-out photos, per seed: they depend on the features
    # alone, so they are fit once however many forget sets are scored (the probe takes seconds). Shared
    # with the logit-mask view, which has the same features.
    found: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False, compare=False)
    weights_sha256: str | None = None  # of the model these are the predictions of, where known

    def of_forgotten(self, split: Split, forget_classes) -> torch.Tensor:
        """Logits on every photo (train and test) of the forgotten identities: what the stranger
        distance compares with strangers."""
        forget = torch.as_tensor(list(forget_classes))
        return torch.cat([self.train[torch.isin(split.train.labels, forget)],
                          self.test[torch.isin(split.test.labels, forget)]])

    def with_classes_hidden(self, classes) -> Predictions:
        """What the logit-mask control predicts, derived without running it: the same features and
        logits, with the hidden classes' logits at the control's masked bias."""
        from .methods.logit_mask import LogitMaskConfig

        def hide(logits):
            logits = logits.clone()
            logits[:, list(classes)] = LogitMaskConfig().masked_bias
            return logits

        return Predictions(hide(self.train), hide(self.test), hide(self.strangers), self.train_features,
                           self.test_features, self.found)

    @classmethod
    def of(cls, model: nn.Module, split: Split, strangers: FaceSet | None,
           test: tuple[torch.Tensor, torch.Tensor] | None = None, start: FrozenStart | None = None,
           weights_hash: str | None = None) -> Predictions:
        """Every prediction the metrics need; `test` (logits, features) when already computed. From
        `start`'s outputs (the same numbers, bit for bit) when it serves the model. `weights_hash`: the
        model's `weights_sha256`, kept with them so that a method may take the original's logits as given."""
        start = serving(start, model)
        empty = torch.zeros(0, len(split.names))
        train, train_features = start.predict(model, "train") if start else predict_with_features(model, split.train)
        test, test_features = test or (start.predict(model, "test") if start else predict_with_features(model, split.test))
        if strangers is None or not len(strangers):
            stranger_logits = empty
        else:
            stranger_logits = start.predict(model, "strangers")[0] if start else predict_outputs(model, strangers)
        return cls(train, test, stranger_logits, train_features, test_features, weights_sha256=weights_hash)

    @classmethod
    def cached(cls, model: nn.Module, split: Split, strangers: FaceSet | None, weights_hash: str) -> Predictions:
        """`of`, kept on disk beside the decoded photos (`data.cache_dir()`) for these weights, these
        photos and this device: every request on a checkpoint starts from the same original model.
        Photos streamed from disk are not hashed here: their predictions are computed each time."""
        key = _predictions_key(model, split, strangers, weights_hash)
        if key is None:
            return cls.of(model, split, strangers, weights_hash=weights_hash)
        path = cache_dir() / f"predictions-{key}.safetensors"
        if path.exists():
            return cls(**load_file(path), weights_sha256=weights_hash)
        predictions = cls.of(model, split, strangers, weights_hash=weights_hash)
        if distributed.writes_training_results():  # one writer among ranks computing the same
            path.parent.mkdir(parents=True, exist_ok=True)
            tensors = {name: value.contiguous() for name, value in vars(predictions).items()
                       if isinstance(value, torch.Tensor)}
            write_then_replace(path.parent, {path.name: lambda partial: save_file(tensors, partial)})
        return predictions


def frozen_start(original: nn.Module, card: dict, split: Split, strangers: FaceSet | None) -> FrozenStart | None:
    """The original's outputs on every photo where UNSIR's default for its architecture starts learning
    (None where every block learns): the models it unlearns, and the controls, are predicted from there."""
    block = configure("unsir", card).learn_from
    if not block:
        return None
    photos = {"train": split.train, "test": split.test, **({"strangers": strangers} if strangers is not None else {})}
    return FrozenStart.of(original, block, photos)


def _predictions_key(model: nn.Module, split: Split, strangers: FaceSet | None, weights_hash: str) -> str | None:
    """A digest of what a model's predictions depend on: weights, photos and labels, and how the
    device computes (torch, bf16 or not, threads); None for photos that are not in memory."""
    faces = [split.train, split.test, *([strangers] if strangers is not None else [])]
    if not all(isinstance(f.images, torch.Tensor) for f in faces):
        return None
    device = next(model.parameters()).device
    digest = hashlib.sha256(f"{weights_hash}:{torch.__version__}:{device_name(device)}:{bf16_helps(device)}:"
                            f"{torch.get_num_threads()}:{len(faces)}".encode())
    for f in faces:
        digest.update(f.images.contiguous().numpy().data)
        digest.update(f.labels.contiguous().numpy().data)
    return digest.hexdigest()[:24]


def held_out_metrics(test_logits: torch.Tensor, split: Split, forget_classes) -> dict:
    """What the held-out photos alone tell, the first answer to a request: accuracy on the forgotten
    and on the kept people, overall and per forgotten person, with photo counts."""
    forget = torch.tensor(sorted(forget_classes))
    in_forget_test = torch.isin(split.test.labels, forget)
    test_pred, labels = test_logits.argmax(1), split.test.labels
    per_identity = metrics.per_class_accuracy(test_pred, labels, len(split.names))
    photos = torch.bincount(labels, minlength=len(split.names)).tolist()
    return {
        "n_forget_test": int(in_forget_test.sum()), "n_retain_test": int((~in_forget_test).sum()),
        "retain_test_acc": metrics.accuracy(test_pred[~in_forget_test], labels[~in_forget_test]),
        "forget_test_acc": metrics.accuracy(test_pred[in_forget_test], labels[in_forget_test]),
        "retain_balanced_test_acc": metrics.balanced_accuracy(
            [a for c, a in enumerate(per_identity) if c not in set(forget.tolist())]),
        "forget_per_identity_test_acc": {split.names[c]: per_identity[c] for c in forget.tolist()},
        "forget_per_identity_n_test": {split.names[c]: photos[c] for c in forget.tolist()},
    }


def forgetting_metrics(predictions: Predictions, split: Split, forget_classes, seed: int = 0) -> dict:
    """Accuracies (train/test, forget/retain), per-identity accuracy, forget-set prediction histogram,
    membership inference and stranger distance: plain numbers for JSON."""
    forget = torch.tensor(sorted(forget_classes))
    in_forget_train = torch.isin(split.train.labels, forget)
    in_forget_test = torch.isin(split.test.labels, forget)
    train_pred, test_pred = predictions.train.argmax(1), predictions.test.argmax(1)

    def acc(pred, labels, mask):
        return metrics.accuracy(pred[mask], labels[mask])

    histogram = metrics.prediction_histogram(test_pred[in_forget_test], len(split.names))
    return {
        **held_out_metrics(predictions.test, split, forget_classes),
        "n_forget_train": int(in_forget_train.sum()),
        "retain_train_acc": acc(train_pred, split.train.labels, ~in_forget_train),
        "forget_train_acc": acc(train_pred, split.train.labels, in_forget_train),
        "mia_forget": metrics.membership_inference(
            predictions.train[~in_forget_train], predictions.test[~in_forget_test],
            predictions.train[in_forget_train], seed=seed),
        "stranger_ks": metrics.stranger_distance(predictions.of_forgotten(split, forget), predictions.strangers),
        "forget_prediction_histogram": {split.names[c]: n for c, n in enumerate(histogram) if n},
        "forget_prediction_concentration": _named(metrics.concentration(histogram), split.names),
        **membership_aucs(predictions, split, in_forget_train, in_forget_test),
        **feature_metrics(predictions, split, forget.tolist(), seed),
    }


def membership_aucs(predictions: Predictions, split: Split, in_forget_train, in_forget_test) -> dict:
    """Per-photo attacks on the forgotten identities: their training photos against their held-out ones."""
    members = predictions.train[in_forget_train], split.train.labels[in_forget_train]
    nonmembers = predictions.test[in_forget_test], split.test.labels[in_forget_test]
    return {
        "mia_auc_forget": metrics.membership_auc(-metrics.per_example_loss(*members),
                                                 -metrics.per_example_loss(*nonmembers)),
        "mia_auc_forget_max_logit": metrics.membership_auc(members[0].max(1).values, nonmembers[0].max(1).values),
    }


def feature_metrics(predictions: Predictions, split: Split, forget_classes: list[int], seed: int = 0) -> dict:
    """Can the people be found in the penultimate features? k-NN and a linear probe, both fit on the
    training photos of every identity (the forgotten included), scored on held-out photos; the k-NN also
    per forgotten person, for a verdict person by person."""
    if predictions.train_features is None:
        return {}
    if seed not in predictions.found:
        features = predictions.train_features, split.train.labels, predictions.test_features
        predictions.found[seed] = {"knn": metrics.knn_predictions(*features),
                                   "probe": metrics.probe_predictions(*features, seed=seed)}
    found = predictions.found[seed]
    labels = split.test.labels
    in_forget_test = torch.isin(labels, torch.tensor(forget_classes, dtype=torch.long))
    knn_per_identity = metrics.per_class_accuracy(found["knn"], labels, len(split.names))
    return {**{f"feature_{name}_{group}_acc": metrics.accuracy(pred[mask], labels[mask])
               for name, pred in found.items()
               for group, mask in (("forget", in_forget_test), ("retain", ~in_forget_test))},
            "feature_knn_forget_per_identity_acc": {split.names[c]: knn_per_identity[c] for c in forget_classes}}


def gap_closed_on(key: str, original: dict, method: dict, retrained: dict) -> float:
    """The share of the original->retrain gap a method closes on one metric of the three models' measured numbers
    (a membership AUC by its distance from chance)."""
    return metrics.gap_closed(original[key], method[key], retrained[key], CHANCE.get(key))


def gaps_closed(original: dict, method: dict, retrained: dict) -> dict:
    """A method's `gap_closed` entry: per metric, the share of the original->retrain gap it closes."""
    return {key: gap_closed_on(key, original, method, retrained) for key in GAP_METRICS}


def _named(concentration: dict, names: list[str]) -> dict:
    top = concentration["top_class"]
    return {**concentration, "top_class": names[top] if top is not None else None}


def midway_held_out(midway: Midway, split: Split, forget_classes, start: FrozenStart | None = None) -> dict:
    """The held-out accuracies (`held_out_metrics`) of a method's model part-way (UNSIR's after impair): a
    stage's state, not its answer, which comes once every stage has run."""
    logits, _ = held_out_predictions(midway.model, split, serving(start, midway.model))
    return held_out_metrics(logits, split, forget_classes)


def held_out_predictions(model: nn.Module, split: Split, served: FrozenStart | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features) on the held-out photos; from `served`'s outputs where given (`features.serving`)."""
    return served.predict(model, "test") if served else predict_with_features(model, split.test)
