"""`fit`, the one training loop: its speed-ups (losses summed on the device, channels-last under bf16)
leave what it returns and what it trains as before."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from unsir.data import WithOutputs
from unsir.training import distillation_from_outputs, distillation_loss, fit, loader

EPOCHS = 3
BF16_TOLERANCE = 0.02  # relative: bf16 keeps 8 bits of mantissa; another kernel rounds differently
# tiny_convnet's convolution biases that feed BatchNorm: the norm subtracts them, so their gradient is zero but for
# rounding, and Adam turns that rounding into full-size steps; they record the kernels, not the training (0.06 apart
# between the two layouts on one CPU, within the tolerance on another).
BIASES_BEFORE_NORM = {"0.bias", "3.bias"}


def tiny_convnet() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2),
                         nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def photos() -> TensorDataset:
    generator = torch.Generator().manual_seed(1)
    return TensorDataset(torch.randn(50, 3, 16, 16, generator=generator), torch.randint(0, 4, (50,), generator=generator))


def mean_losses_read_every_step(model: nn.Module, autocast: bool) -> list[float]:
    """The loop as it was: contiguous layout, each step's loss read to the host and summed in Python."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = loader(photos(), 16, torch.Generator().manual_seed(2))
    losses = []
    model.train()
    for _ in range(EPOCHS):
        running, count = 0.0, 0
        for inputs, labels in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running, count = running + loss.item(), count + 1
        losses.append(running / count)
    return losses


def fit_tiny(model: nn.Module, autocast: bool, channels_last: bool | None = None) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return fit(model, loader(photos(), 16, torch.Generator().manual_seed(2)), optimizer, epochs=EPOCHS,
               autocast=autocast, channels_last=channels_last)


def test_fit_returns_the_mean_loss_per_epoch_the_step_by_step_reading_gave_bit_for_bit():
    before, after = tiny_convnet(), tiny_convnet()
    assert fit_tiny(after, autocast=False) == mean_losses_read_every_step(before, autocast=False)
    for name, weight in before.state_dict().items():
        assert torch.equal(weight, after.state_dict()[name]), name


def test_bf16_training_in_channels_last_matches_the_contiguous_loop_and_hands_back_the_usual_layout():
    contiguous, channels_last = tiny_convnet(), tiny_convnet()
    parameters = list(channels_last.parameters())
    expected = mean_losses_read_every_step(contiguous, autocast=True)
    assert fit_tiny(channels_last, autocast=True) == pytest.approx(expected, rel=BF16_TOLERANCE)
    assert all(a is b for a, b in zip(parameters, channels_last.parameters()))  # an optimiser's references hold
    assert all(p.is_contiguous() for p in channels_last.parameters())
    for name, weight in contiguous.state_dict().items():
        if weight.is_floating_point() and name not in BIASES_BEFORE_NORM:
            assert torch.allclose(weight, channels_last.state_dict()[name], rtol=0.1, atol=0.05), name


def test_bf16_training_told_to_stay_contiguous_is_the_contiguous_loop_bit_for_bit():
    """UNSIR's blocks after learn_from see small maps, where channels-last is slower: fit can keep the layout."""
    before, after = tiny_convnet(), tiny_convnet()
    assert fit_tiny(after, autocast=True, channels_last=False) == mean_losses_read_every_step(before, autocast=True)
    for name, weight in before.state_dict().items():
        assert torch.equal(weight, after.state_dict()[name]), name


def test_with_frozen_norm_batchnorm_keeps_its_statistics_while_everything_learns():
    model = tiny_convnet()
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(model, loader(photos(), 16, torch.Generator().manual_seed(2)), optimizer, frozen_norm=True)
    after = model.state_dict()
    for name in ("1.running_mean", "1.running_var", "1.num_batches_tracked", "4.running_mean"):
        assert torch.equal(before[name], after[name]), name
    for name in ("0.weight", "1.weight", "1.bias", "8.weight"):  # the affine BatchNorm weights learn too
        assert not torch.equal(before[name], after[name]), name
    fit(model, loader(photos(), 16, torch.Generator().manual_seed(2)), optimizer)
    assert not torch.equal(before["1.running_mean"], model.state_dict()["1.running_mean"])


def test_a_gradient_norm_limit_bounds_each_step_and_leaves_a_smaller_gradient_alone():
    def one_step(max_grad_norm):
        model = tiny_convnet()
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        # Plain SGD at rate 1: the weights move by exactly the (clipped) gradient.
        fit(model, loader(photos(), 50, torch.Generator().manual_seed(2)), torch.optim.SGD(model.parameters(), lr=1.0),
            max_grad_norm=max_grad_norm)
        return float((torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm())

    free = one_step(None)
    assert free > 0.01
    assert one_step(0.01) == pytest.approx(0.01, rel=1e-4)
    assert one_step(10 * free) == pytest.approx(free, rel=1e-6)


def test_distilling_outputs_computed_once_trains_exactly_as_running_the_teacher_every_step():
    """UNSIR's repair computes the teacher's outputs once (its inputs never change): the same weights
    as a teacher run at every step of every epoch."""
    teacher = tiny_convnet().eval()
    with torch.no_grad():
        outputs = teacher(photos().tensors[0])
    live, once = tiny_convnet(), tiny_convnet()
    for net in (live, once):
        nn.init.normal_(net[-1].weight, generator=torch.Generator().manual_seed(3))  # a student unlike its teacher
    runs = [(live, photos(), distillation_loss(teacher, 0.9, 4.0, 0.0)),
            (once, WithOutputs(photos(), outputs), distillation_from_outputs(0.9, 4.0, 0.0))]
    losses = [fit(net, loader(data, 16, torch.Generator().manual_seed(2)), torch.optim.Adam(net.parameters(), lr=1e-2),
                  epochs=EPOCHS, loss_fn=loss_fn) for net, data, loss_fn in runs]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    for name, weight in live.state_dict().items():
        torch.testing.assert_close(once.state_dict()[name], weight, rtol=1e-5, atol=1e-6)


def test_outputs_must_match_the_examples_one_for_one():
    with pytest.raises(ValueError, match="49 outputs for 50 examples"):
        WithOutputs(photos(), torch.zeros(49, 4))
