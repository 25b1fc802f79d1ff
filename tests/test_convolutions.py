"""Convolutions on tiny maps as one matrix product: the same function, its gradients included, and used only
within the context (and by `fit` only where it pays)."""
from __future__ import annotations

from unittest import mock

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset
from torchvision.models import resnet18

from unsir import convolutions
from unsir.convolutions import MATMUL_UP_TO, conv2d_as_matmul, tiny_maps_as_matmul
from unsir.training import fit, loader

# (in, out, kernel, stride, padding, dilation, bias, map side): ResNet18's layer4 convolutions on 2x2 maps and
# their stride-2 entries from 4x4, a 1x1 output, and the general cases the function must not get wrong.
CASES = [(8, 6, 3, 1, 1, 1, False, 2), (8, 6, 3, 2, 1, 1, False, 4), (8, 6, 1, 2, 0, 1, False, 4),
         (5, 7, 3, 1, 1, 1, True, 1), (4, 6, (3, 1), (2, 1), (0, 1), 1, True, 5), (4, 3, 3, 1, 2, 2, False, 3)]


def double_conv(case) -> tuple[nn.Conv2d, torch.Tensor]:
    channels, out, kernel, stride, padding, dilation, bias, side = case
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, out, kernel, stride, padding, dilation, bias=bias).double()
    return conv, torch.randn(3, channels, side, side, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("case", CASES)
def test_the_matrix_product_is_the_convolution_and_so_are_its_gradients(case):
    conv, inputs = double_conv(case)
    expected = conv(inputs)
    weights = [inputs, *conv.parameters()]
    expected_grads = torch.autograd.grad(expected.square().sum(), weights)
    outputs = conv2d_as_matmul(conv, inputs)
    assert outputs.shape == expected.shape
    torch.testing.assert_close(outputs, expected)
    for grad, expected_grad in zip(torch.autograd.grad(outputs.square().sum(), weights), expected_grads):
        torch.testing.assert_close(grad, expected_grad)


def test_under_cpu_autocast_it_computes_in_bf16_as_the_convolution_does():
    torch.manual_seed(0)
    conv, inputs = nn.Conv2d(64, 32, 3, padding=1, bias=False), torch.randn(4, 64, 2, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, outputs = conv(inputs), conv2d_as_matmul(conv, inputs)
    assert outputs.dtype == expected.dtype == torch.bfloat16
    torch.testing.assert_close(outputs.float(), expected.float(), rtol=0.02, atol=0.05)


def test_within_the_context_only_tiny_output_maps_take_the_matrix_product_and_the_model_is_left_as_it_was():
    model = resnet18(num_classes=10).eval()
    state = {name: value.clone() for name, value in model.state_dict().items()}
    photos = torch.randn(2, 3, 64, 64)  # layer4 gives 2x2 maps; every earlier block gives wider ones
    sides = {}
    hooks = [conv.register_forward_hook(lambda conv, inputs, outputs: sides.__setitem__(conv, outputs.shape[-1]))
             for conv in model.modules() if isinstance(conv, nn.Conv2d)]
    with torch.no_grad():
        expected = model(photos)
        with tiny_maps_as_matmul(model), mock.patch.object(convolutions, "conv2d_as_matmul",
                                                              wraps=conv2d_as_matmul) as multiplied:
            taken = {conv for conv in sides if "forward" in vars(conv)}
            with tiny_maps_as_matmul(model):  # nested: the convolutions are not wrapped twice
                pass
            assert all("forward" in vars(conv) for conv in taken)
            outputs = model(photos)
    calls = {call.args[0] for call in multiplied.call_args_list}
    for hook in hooks:
        hook.remove()
    assert taken == set(sides)  # every convolution is wrapped...
    assert calls == {conv for conv, side in sides.items() if side <= MATMUL_UP_TO}  # ...tiny maps multiply
    assert calls == set(model.layer4.modules()) & set(sides)
    torch.testing.assert_close(outputs, expected, rtol=1e-4, atol=1e-4)
    assert not any("forward" in vars(conv) for conv in sides)
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_the_context_unwraps_the_convolutions_when_the_work_inside_fails_and_does_nothing_when_disabled():
    model = resnet18(num_classes=10)
    convs = [conv for conv in model.modules() if isinstance(conv, nn.Conv2d)]
    with pytest.raises(RuntimeError, match="inside"):
        with tiny_maps_as_matmul(model):
            raise RuntimeError("inside")
    assert not any("forward" in vars(conv) for conv in convs)
    with tiny_maps_as_matmul(model, enabled=False):
        assert not any("forward" in vars(conv) for conv in convs)


@pytest.mark.parametrize("autocast", [False, True])
def test_fit_multiplies_tiny_maps_only_when_it_trains_in_bf16_on_a_cpu(autocast):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    data = TensorDataset(torch.randn(8, 3, 3, 3), torch.randint(0, 2, (8,)))
    wrapped = []

    def loss_fn(net, inputs, labels):
        wrapped.append("forward" in vars(model[0]))
        return F.cross_entropy(net(inputs).float(), labels)

    fit(model, loader(data, 4, torch.Generator().manual_seed(1)), torch.optim.SGD(model.parameters(), lr=0.1),
        loss_fn=loss_fn, autocast=autocast)
    assert wrapped == [autocast, autocast]
    assert "forward" not in vars(model[0])
