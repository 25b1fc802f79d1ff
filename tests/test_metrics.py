import math

import pytest
import torch
from torch import nn

from unsir import metrics


def test_accuracies_on_hand_made_predictions():
    predictions, labels = torch.tensor([0, 1, 1, 2, 2, 2]), torch.tensor([0, 1, 2, 2, 2, 0])
    assert metrics.accuracy(predictions, labels) == pytest.approx(4 / 6)
    per_class = metrics.per_class_accuracy(predictions, labels, 4)
    assert per_class[:3] == pytest.approx([0.5, 1.0, 2 / 3]) and math.isnan(per_class[3])
    assert metrics.balanced_accuracy(per_class) == pytest.approx((0.5 + 1 + 2 / 3) / 3)


def test_histogram_and_concentration():
    histogram = metrics.prediction_histogram(torch.tensor([3, 3, 3, 1]), 5)
    assert histogram == [0, 1, 0, 3, 0]
    summary = metrics.concentration(histogram)
    assert summary["top_class"] == 3 and summary["top_share"] == 0.75
    assert summary["entropy"] == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_stranger_distance_is_zero_for_the_same_confidences_and_one_for_disjoint():
    confident = torch.tensor([[10.0, 0, 0]] * 20)
    unsure = torch.zeros(20, 3)
    assert metrics.stranger_distance(confident, confident) == 0
    assert metrics.stranger_distance(confident, unsure) == 1


def test_membership_inference_calls_confident_samples_members():
    generator = torch.Generator().manual_seed(0)
    confident = torch.tensor([[8.0, 0, 0]]) + 0.1 * torch.randn(50, 3, generator=generator)
    unsure = 0.1 * torch.randn(50, 3, generator=generator)
    assert metrics.membership_inference(confident, unsure, confident[:10]) == 1.0
    assert metrics.membership_inference(confident, unsure, unsure[:10]) == 0.0


def test_layer_distances_see_only_the_changed_layer():
    a = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    b = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2))
    b.load_state_dict(a.state_dict())
    with torch.no_grad():
        b[1].weight += 1.0
    distances = metrics.layer_distances(a, b)
    assert distances["0"] == 0 and distances["1"] == pytest.approx(math.sqrt(6))


def clusters(per_class=10, classes=3, spread=0.05, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.eye(classes, 8)
    labels = torch.arange(classes).repeat_interleave(per_class)
    return centres[labels] + spread * torch.randn(len(labels), 8, generator=generator), labels


def test_feature_knn_and_probe_find_separable_people_and_not_mixed_ones():
    train, labels = clusters()
    test, test_labels = clusters(seed=1)
    for find in (metrics.knn_predictions, metrics.probe_predictions):
        assert metrics.accuracy(find(train, labels, test), test_labels) == 1.0
    # Features that no longer separate person 2 from person 0: neither finds person 2 reliably.
    blurred = test.clone()
    blurred[test_labels == 2] = test[test_labels == 0]
    for find in (metrics.knn_predictions, metrics.probe_predictions):
        found = find(train, labels, blurred)
        assert metrics.accuracy(found[test_labels == 2], test_labels[test_labels == 2]) == 0.0


def test_membership_auc_is_one_when_separated_and_a_half_when_not():
    low_loss, high_loss = torch.full((10,), -0.1), torch.full((10,), -3.0)
    assert metrics.membership_auc(low_loss, high_loss) == 1.0
    assert metrics.membership_auc(low_loss, low_loss) == 0.5
    assert math.isnan(metrics.membership_auc(low_loss, torch.zeros(0)))


def test_per_example_loss_is_the_cross_entropy_of_each_photo():
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0])
    assert metrics.per_example_loss(logits, labels) == pytest.approx(
        torch.tensor([math.log(1 + math.exp(-2)), math.log(1 + math.exp(2))]))


@pytest.mark.parametrize("original, method, retrain, share", [
    (0.9, 0.9, 0.5, 0.0), (0.9, 0.5, 0.5, 1.0), (0.9, 0.7, 0.5, 0.5), (0.9, 0.4, 0.5, 1.25), (0.1, 0.3, 0.5, 0.5),
])
def test_gap_closed_measures_the_way_from_the_original_to_retrain(original, method, retrain, share):
    assert metrics.gap_closed(original, method, retrain) == pytest.approx(share)


def test_a_membership_auc_closes_the_gap_by_its_distance_from_chance():
    # Driven from 0.94 to 0.24 where the retrain sits at 0.53: 0.26 from chance, not past the retrain.
    assert metrics.gap_closed(0.94, 0.24, 0.53, chance=0.5) == pytest.approx((0.44 - 0.26) / (0.44 - 0.03))
    assert metrics.gap_closed(0.94, 0.24, 0.53) > 1  # the signed share would call it past the retrain
    assert metrics.gap_closed(0.94, 0.47, 0.53, chance=0.5) == pytest.approx(1.0)  # as near chance as the retrain
    assert math.isnan(metrics.gap_closed(0.6, 0.5, 0.4, chance=0.5))  # as far from chance on either side


def test_closeness_to_retrain_counts_going_past_it_as_distance():
    # kNN 80 % → retrain 40 %: UNSIR at 20 % closed 1.5 of the gap, signed, yet sits as far from the retrain (20
    # points) as one at 60 %, which closed half of it.
    assert metrics.gap_closed(0.8, 0.2, 0.4) == pytest.approx(1.5)
    assert metrics.retrain_closeness(0.8, 0.2, 0.4) == pytest.approx(0.5)
    assert metrics.retrain_closeness(0.8, 0.6, 0.4) == pytest.approx(0.5)
    assert metrics.retrain_closeness(0.8, 0.4, 0.4) == pytest.approx(1.0)
    assert metrics.retrain_closeness(0.8, 0.0, 0.4) == pytest.approx(0.0)  # as far past as the original is short
    assert metrics.retrain_closeness(0.94, 0.47, 0.53, chance=0.5) == pytest.approx(1.0)
    assert math.isnan(metrics.retrain_closeness(0.5, 0.4, 0.51))


def test_gap_closed_is_undefined_when_retrain_matches_the_original():
    assert math.isnan(metrics.gap_closed(0.5, 0.4, 0.51))
    assert math.isnan(metrics.gap_closed(0.5, float("nan"), 0.1))
