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
    confident = torch.tensor([[8.0, 0, 0]]) + 0.1 * torch.randn(50, 3)
    unsure = 0.1 * torch.randn(50, 3)
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
