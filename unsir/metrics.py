"""Evidence of forgetting: one function per metric, plain numbers in and out."""
from __future__ import annotations

import torch
from torch import nn


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predictions == labels).float().mean()) if len(labels) else float("nan")


def per_class_accuracy(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float]:
    """Accuracy of each class (NaN for a class without samples)."""
    correct = torch.zeros(num_classes).index_add_(0, labels, (predictions == labels).float())
    counts = torch.bincount(labels, minlength=num_classes).float()
    return (correct / counts).tolist()


def balanced_accuracy(per_class: list[float]) -> float:
    present = torch.tensor(per_class)
    present = present[~present.isnan()]
    return float(present.mean()) if len(present) else float("nan")


def softmax_confidence(logits: torch.Tensor) -> torch.Tensor:
    """Max-softmax probability of each prediction."""
    return logits.float().softmax(1).max(1).values


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of each predictive distribution."""
    return torch.special.entr(logits.float().softmax(1)).sum(1)


def prediction_histogram(predictions: torch.Tensor, num_classes: int) -> list[int]:
    """How many photos went to each class."""
    return torch.bincount(predictions, minlength=num_classes).tolist()


def concentration(histogram: list[int]) -> dict:
    """Share of the most-predicted class and entropy (nats) of the prediction histogram."""
    counts = torch.tensor(histogram, dtype=torch.float)
    total = counts.sum()
    if total == 0:
        return {"top_class": None, "top_share": float("nan"), "entropy": float("nan")}
    shares = counts / total
    return {"top_class": int(shares.argmax()), "top_share": float(shares.max()),
            "entropy": float(torch.special.entr(shares).sum())}


def stranger_distance(forget_logits: torch.Tensor, stranger_logits: torch.Tensor) -> float:
    """Kolmogorov-Smirnov distance between max-softmax confidence on forgotten people and on
    people never trained on: 0 = the model treats the forgotten like strangers."""
    from scipy.stats import ks_2samp

    if not len(forget_logits) or not len(stranger_logits):
        return float("nan")
    return float(ks_2samp(softmax_confidence(forget_logits).numpy(), softmax_confidence(stranger_logits).numpy()).statistic)


MIA_VARIANT = ("logistic regression on prediction entropy; members = training photos of kept identities, "
               "non-members = test photos of kept identities (as many of each, drawn at random); score = share of "
               "the forgotten identities' training photos called members")


def membership_inference(member_logits: torch.Tensor, nonmember_logits: torch.Tensor,
                         target_logits: torch.Tensor, seed: int = 0) -> float:
    """Share of `target` samples a simple entropy-based attack calls training members (see MIA_VARIANT)."""
    from sklearn.linear_model import LogisticRegression

    if not len(target_logits):
        return float("nan")
    generator = torch.Generator().manual_seed(seed)
    n = min(len(member_logits), len(nonmember_logits))
    members = member_logits[torch.randperm(len(member_logits), generator=generator)[:n]]
    nonmembers = nonmember_logits[torch.randperm(len(nonmember_logits), generator=generator)[:n]]
    features = torch.cat([prediction_entropy(members), prediction_entropy(nonmembers)])[:, None].numpy()
    targets = [1] * n + [0] * n
    attack = LogisticRegression().fit(features, targets)  # the classes already hold n each
    return float(attack.predict(prediction_entropy(target_logits)[:, None].numpy()).mean())


def layer_distances(model_a: nn.Module, model_b: nn.Module) -> dict[str, float]:
    """L2 distance between the weights of each layer (parameters grouped by module name)."""
    params_b = dict(model_b.named_parameters())
    squared: dict[str, float] = {}
    for name, param in model_a.named_parameters():
        layer = name.rsplit(".", 1)[0]
        diff = (param.detach().float().cpu() - params_b[name].detach().float().cpu()).square().sum()
        squared[layer] = squared.get(layer, 0.0) + float(diff)
    return {layer: value**0.5 for layer, value in squared.items()}


RELEARN_CAP = 10  # epochs


def relearn_epochs(model: nn.Module, train_faces, forget_test_faces, target_accuracy: float,
                   *, max_epochs: int = RELEARN_CAP, sample_size: int = 500, lr: float = 1e-3, seed: int = 0) -> int | None:
    """Relearn time (the paper's): epochs of training, each on a fresh random draw of `sample_size`
    training photos (all identities), until forget-set test accuracy is back to `target_accuracy`.
    Trains a copy; returns None if the cap is reached first."""
    import copy

    from . import distributed
    from .data import FaceTensors
    from .training import fit, loader, predict_outputs, seed_everything

    generator = seed_everything(seed)
    learner = copy.deepcopy(model)
    optimizer = torch.optim.Adam(learner.parameters(), lr=lr)
    for epoch in range(1, max_epochs + 1):
        draw = torch.randperm(len(train_faces), generator=generator)[:sample_size]
        fit(learner, loader(FaceTensors(train_faces.subset(draw)), 64, generator), optimizer, stage="relearn")
        predictions = predict_outputs(learner, forget_test_faces).argmax(1)
        relearned = torch.tensor([float(accuracy(predictions, forget_test_faces.labels) >= target_accuracy)],
                                 device=next(learner.parameters()).device)
        if distributed.from_rank_zero(relearned).item():  # every rank stops, or none: else the others would wait
            return epoch
    return None


def knn_predictions(train_features: torch.Tensor, train_labels: torch.Tensor, features: torch.Tensor,
                    k: int = 5) -> torch.Tensor:
    """Identity of each feature vector by its k nearest training photos (cosine distance): finds a
    person whom the features still separate, whatever the classifier layer says."""
    from sklearn.neighbors import KNeighborsClassifier

    if not len(features):
        return torch.zeros(0, dtype=torch.long)
    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine").fit(train_features.numpy(), train_labels.numpy())
    return torch.from_numpy(knn.predict(features.numpy()))


def probe_predictions(train_features: torch.Tensor, train_labels: torch.Tensor, features: torch.Tensor,
                      seed: int = 0) -> torch.Tensor:
    """Identity of each feature vector by a multinomial logistic regression fit on the training
    photos' features: a new classifier layer, trained by the attacker, on the frozen body."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not len(features):
        return torch.zeros(0, dtype=torch.long)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=300, random_state=seed))
    probe.fit(train_features.numpy(), train_labels.numpy())
    return torch.from_numpy(probe.predict(features.numpy()))


MIA_AUC_VARIANT = ("ROC AUC of the per-photo loss separating the forgotten identities' training photos (members) "
                   "from their held-out photos (non-members); 0.5 = the attack cannot tell them apart")


def membership_auc(member_scores: torch.Tensor, nonmember_scores: torch.Tensor) -> float:
    """ROC AUC of a score (higher = 'trained on') separating members from non-members (see MIA_AUC_VARIANT)."""
    from sklearn.metrics import roc_auc_score

    if not len(member_scores) or not len(nonmember_scores):
        return float("nan")
    scores = torch.cat([member_scores, nonmember_scores]).float().numpy()
    return float(roc_auc_score([1] * len(member_scores) + [0] * len(nonmember_scores), scores))


def per_example_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(logits.float(), labels, reduction="none")


SMALLEST_GAP = 0.02  # an original and a retrain closer than this leave no gap to close


def gap_closed(original: float, method: float, retrain: float, chance: float | None = None) -> float:
    """Share of the original->retrain gap a method closes: 1 = like retrain, 0 = like the original,
    above 1 = past retrain. NaN when retrain and the original barely differ (nothing to close).

    With `chance` (a membership attack's AUC: 0.5), each value counts by its distance from it: an attacker
    reads an AUC of 0.2 as surely as one of 0.8, so a method that drives the AUC below chance has not
    closed the gap to a retrain that sits at it."""
    if any(v is None or v != v for v in (original, method, retrain)):
        return float("nan")
    if chance is not None:
        original, method, retrain = (abs(v - chance) for v in (original, method, retrain))
    gap = original - retrain
    if abs(gap) < SMALLEST_GAP:
        return float("nan")
    return (original - method) / gap


def retrain_closeness(original: float, method: float, retrain: float, chance: float | None = None) -> float:
    """How near a method ends to the retrained model, against how far the original was: 1 = where retrain is,
    0 = as far as the original, below 0 = further. Unlike `gap_closed`, going past retrain counts as distance: a
    model that forgets more than one that never saw the person stands out from it as surely as one that forgets
    less. NaN where `gap_closed` is; `chance` as there."""
    share = gap_closed(original, method, retrain, chance)
    return share if share != share else 1 - abs(1 - share)
