"""What the benchmark judges: the issues' targets, and each feature measure pooled over the photos of several
forget sets beside the original and the retrained model (the deep-forgetting issue's rule for small sets)."""
from __future__ import annotations

from typing import NamedTuple

from .evaluation import CHANCE
from .metrics import SMALLEST_GAP, gap_closed

# The deep-forgetting issue's targets, per set: (forgotten test accuracy at most, kept accuracy lost at most in
# points) per architecture (the ViT, weaker to start with, is held to less), and the gap closed toward retrain.
ACCURACY_TARGETS = {"resnet18": (0.01, 3.0), "vit": (0.02, 5.0)}
GAP_TARGET = 0.8
CLEARLY_MORE = 0.05  # how much more of a gap UNSIR must close than a control to count as telling them apart


# The methods issue's bar for a compared method, on every set: forgotten test accuracy at most, kept accuracy lost at
# most in points.
COMPARED_TARGET = (0.05, 5.0)


# The measures whose gap to the retrained model is judged, with their names and how a value reads.
POOLED_MEASURES = {"feature_knn_forget_acc": ("kNN", lambda v: f"{100 * v:.1f} %"),
                   "mia_auc_forget": ("loss AUC", lambda v: f"{v:.3f}"),
                   "stranger_ks": ("KS", lambda v: f"{v:.3f}")}


class Pooled(NamedTuple):
    """One measure of the original, a method and the retrained model, pooled over the sets with a retrain."""
    original: float
    method: float
    retrain: float
    photos: int
    paired: list[dict]  # the sets with a retrain
    original_off: float  # the original's distance to each set's retrain, pooled as the values are
    method_off: float

    def gap(self) -> float | None:
        """The share of the original→retrain gap closed, signed: above 1 where the method went past the retrains
        overall. None where the retrains score as the original does."""
        share = gap_closed(self.original, self.method, self.retrain)
        return None if share != share else share

    def closeness(self) -> float | None:
        """`metrics.retrain_closeness`, pooled: 1 − the method's distance to each set's retrain over the original's.
        A set where the method overshoots its retrain, or moves where its retrain did not, counts against it, where
        the signed share lets it cancel a set that fell short. None where the original sits at the retrains."""
        return None if self.original_off < SMALLEST_GAP else 1 - self.method_off / self.original_off


def pooled_measure(runs: list[dict], method: str, key: str = "feature_knn_forget_acc") -> Pooled | None:
    """Pooled over photos, not averaged over sets: a set of one person may hold 3 held-out photos, where one photo
    moves the share closed by a third. The kNN's accuracy pools exactly; a loss AUC or a KS distance, measured per
    set, is weighted by the set's held-out photos, the AUC by its distance from chance (one set at 0.3 and one at 0.7
    do not pool to chance). None without a retrain."""
    chance = CHANCE.get(key)

    def measured(model: dict) -> bool:
        return model.get(key) is not None and model[key] == model[key]  # unmeasured: None in JSON, NaN in memory

    paired = [r for r in runs if "retrain" in r["methods"] and r["methods"][method].get("n_forget_test")
              and all(map(measured, (r["original"], r["methods"][method], r["methods"]["retrain"])))]
    if not paired:
        return None
    photos = sum(r["methods"][method]["n_forget_test"] for r in paired)

    def value(measured: float) -> float:
        return measured if chance is None else abs(measured - chance)

    def pooled(distance) -> float:
        return sum(distance(r) * r["methods"][method]["n_forget_test"] for r in paired) / photos

    def at(model):
        return lambda r: value(model(r)[key])

    def off(model):
        return lambda r: abs(at(model)(r) - at(lambda run: run["methods"]["retrain"])(r))

    original, unlearned = (lambda r: r["original"]), (lambda r: r["methods"][method])
    return Pooled(pooled(at(original)), pooled(at(unlearned)), pooled(at(lambda r: r["methods"]["retrain"])), photos,
                  paired, pooled(off(original)), pooled(off(unlearned)))
