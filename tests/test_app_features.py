"""The features panel: numbers from the core's report, the control derived, the verdict in plain words."""
import numpy as np
import pytest

from demo import figures
from demo.handlers import features
from unsir.forgetting import forget

FORGET = ["person_03", "person_17"]


@pytest.fixture(scope="module")
def run(olivetti):
    # Any method will do for the panel; head-only is the quickest that changes the model.
    return forget(olivetti.model, olivetti.card, olivetti.split, FORGET, methods={"head-only": None})


def test_evidence_holds_the_control_and_a_map_per_model(run, olivetti):
    evidence = features.feature_evidence(run, olivetti.split, "head-only")
    # The control changes nothing inside: its feature numbers are the original's.
    assert evidence.control["feature_knn_forget_acc"] == run.report["original"]["feature_knn_forget_acc"]
    assert set(evidence.maps) == {"original", "head-only"}
    assert evidence.forgotten.sum() == 6 and all(m.shape == (len(evidence.forgotten), 2) for m in evidence.maps.values())
    figure = figures.feature_maps(evidence.maps, {"original": "Original", "head-only": "Control"}, evidence.forgotten)
    assert len(figure.axes) == 2


def test_without_retrain_the_table_shows_the_benchmarks_range(run, olivetti, monkeypatch):
    monkeypatch.setattr(features, "benchmark_ranges", lambda: {"resnet18": {"feature_knn_forget_acc": (0.6, 0.7)}})
    monkeypatch.setattr(features, "benchmark_counts", lambda: {"resnet18": (2, 40)})
    evidence = features.feature_evidence(run, olivetti.split, "head-only")
    original = {**run.report["original"], "feature_knn_forget_acc": 0.9}
    findable = {**run.report["methods"]["head-only"], "feature_knn_forget_acc": 0.9}
    table = features.evidence_table(original, findable, "UNSIR", evidence, None, "resnet18")
    assert "Can the forgotten people still be found inside the model?" in table
    assert ("| Original | Unlearned · UNSIR | Control: output hidden | Retrained models (benchmark: 2 sets, 40 photos) |"
            in table)
    assert "60%–70%" in table
    assert "**Still findable in the features:** nearest neighbours find 90%" in table
    gone = {**findable, "feature_knn_forget_acc": 0.65}
    assert "About as findable as in a retrained model" in features.evidence_table(
        original, gone, "UNSIR", evidence, None, "resnet18")


def test_with_retrain_the_verdict_gives_the_share_of_the_gap_closed(run, olivetti):
    evidence = features.feature_evidence(run, olivetti.split, "head-only")
    original = {"feature_knn_forget_acc": 0.9, "feature_probe_forget_acc": 0.9, "mia_auc_forget": 0.8, "stranger_ks": 0.9}
    unlearned = {"feature_knn_forget_acc": 0.8, "feature_probe_forget_acc": 0.9, "mia_auc_forget": 0.65, "stranger_ks": 0.5}
    retrained = {"feature_knn_forget_acc": 0.7, "feature_probe_forget_acc": 0.85, "mia_auc_forget": 0.5, "stranger_ks": 0.1}
    table = features.evidence_table(original, unlearned, "UNSIR", evidence, retrained, "resnet18")
    assert "| Retrained from scratch |" in table and "benchmark range" not in table
    assert "Found by nearest neighbours in the features: 50%" in table
    assert "Membership attack, AUC: 50%" in table and "Distance from strangers: 50%" in table
    assert np.isfinite(evidence.maps["head-only"]).all()
    assert "rough" not in table  # not one person: nothing to caveat


def test_for_one_person_the_share_is_called_rough(run, olivetti):
    evidence = features.feature_evidence(run, olivetti.split, "head-only")
    original = {"feature_knn_forget_acc": 0.75, "feature_probe_forget_acc": 0.75, "mia_auc_forget": 0.8, "stranger_ks": 0.9}
    retrained = {"feature_knn_forget_acc": 0.25, "feature_probe_forget_acc": 0.5, "mia_auc_forget": 0.5, "stranger_ks": 0.1}
    one = {"feature_knn_forget_acc": 0.5, "feature_probe_forget_acc": 0.75, "mia_auc_forget": 0.6, "stranger_ks": 0.4,
           "forget_per_identity_test_acc": {"person_03": 0.0}}
    table = features.evidence_table(original, one, "UNSIR", evidence, retrained, "resnet18")
    assert "For one person these shares are rough" in table
    two = {**one, "forget_per_identity_test_acc": {"person_03": 0.0, "person_07": 0.0}}
    assert "rough" not in features.evidence_table(original, two, "UNSIR", evidence, retrained, "resnet18")
