"""Convolutions whose output map is tiny, computed as one matrix product (bf16 training on a CPU).

oneDNN's bf16 convolution is slow where the output map is tiny. On the 2-core development CPU (AMX), the
weight gradient of a ResNet18 layer4 3x3 convolution (64 photos, 2x2 maps) ran at about 80 GFLOP/s, where
a bf16 matrix product of the same size runs at 1.6 TFLOP/s. Unfolded into columns and multiplied, the
training step of the blocks from layer3 on (UNSIR's impair and repair) runs 1.75x as fast
(benchmarks/THROUGHPUT.md). Where the output map is 4x4 or wider, oneDNN's kernels are as fast or faster.
"""
from __future__ import annotations

import contextlib
import functools

import torch
import torch.nn.functional as F
from torch import nn

MATMUL_UP_TO = 2  # output maps at most this many pixels wide and high


def output_size(conv: nn.Conv2d, height: int, width: int) -> tuple[int, int]:
    return tuple((size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
                 for size, pad, dilation, kernel, stride in zip((height, width), conv.padding, conv.dilation,
                                                                conv.kernel_size, conv.stride))


def conv2d_as_matmul(conv: nn.Conv2d, inputs: torch.Tensor) -> torch.Tensor:
    """`conv(inputs)` as unfold + one matrix product, in autocast's dtype where autocast is on.
    The result is channels-last in memory (what the matrix product gives)."""
    batch = inputs.shape[0]
    height, width = output_size(conv, *inputs.shape[-2:])
    device = inputs.device.type
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else inputs.dtype
    columns = F.unfold(inputs.to(dtype), conv.kernel_size, conv.dilation, conv.padding, conv.stride)
    # [batch, in * kernel, positions] -> [batch * positions, in * kernel]: one product for the whole batch.
    columns = columns.transpose(1, 2).reshape(batch * height * width, -1)
    outputs = columns @ conv.weight.to(dtype).flatten(1).t()
    if conv.bias is not None:
        outputs = outputs + conv.bias.to(dtype)
    return outputs.view(batch, height, width, -1).permute(0, 3, 1, 2)


def _forward(conv: nn.Conv2d, inputs: torch.Tensor) -> torch.Tensor:
    if max(output_size(conv, *inputs.shape[-2:])) <= MATMUL_UP_TO:
        return conv2d_as_matmul(conv, inputs)
    return conv._conv_forward(inputs, conv.weight, conv.bias)


def pays(device: torch.device, bf16: bool) -> bool:
    """Measured on CPUs in bf16 only; on a GPU, cuDNN's kernels are kept."""
    return bf16 and device.type == "cpu"


@contextlib.contextmanager
def tiny_maps_as_matmul(model: nn.Module, enabled: bool = True):
    """Within (where `enabled`): the model's convolutions compute as a matrix product wherever their output
    map is at most MATMUL_UP_TO wide, as the convolution itself elsewhere. Weights and state are untouched."""
    convs = [module for module in model.modules()
             if type(module) is nn.Conv2d and module.groups == 1 and module.padding_mode == "zeros"
             and "forward" not in vars(module)] if enabled else []  # not already inside this context
    for conv in convs:
        conv.forward = functools.partial(_forward, conv)
    try:
        yield
    finally:
        for conv in convs:
            del conv.forward
