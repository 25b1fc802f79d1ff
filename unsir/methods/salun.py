"""SalUn, saliency unlearning: Random Labels on only the weights most salient to forgetting. NOT zero-glance.

Paper: Fan, Liu, Zhang, Wei, Wong, Liu, "SalUn: Empowering Machine Unlearning via Gradient-based
Weight Saliency in Both Image Classification and Generation", ICLR 2024. Reference:
github.com/OPTML-Group/Unlearn-Saliency (`Classification/generate_mask.py`: `save_gradient_ratio`;
`Classification/unlearn/RL.py` with a mask).

The saliency of a weight is the magnitude of the gradient of the forgetting loss (minus the
cross-entropy on the forgotten photos, summed over the batches, model in eval mode). The top
`saliency_fraction` of all weights, ranked together across layers, form the mask; Random Labels
then trains with every other weight's gradient zeroed, so only the masked weights move.

Changed from the reference, and why:
- The mask is applied by gradient hooks during the one training loop (the reference multiplies
  the gradients before each step and then restores the unmasked weights, which its weight decay
  and momentum would otherwise move); without weight decay a zero gradient keeps them exactly.
- The mask is computed for the request at hand rather than saved for thresholds 0.1 … 1.0;
  `saliency_fraction` 0.5 is the reference's example (`with_0.5.pt`), checked in the sweep.
- Everything Random Labels changed (benchmarks/SWEEP-methods.md and unsir/methods/random_labels.py),
  the ViT's frozen early blocks included: the mask still ranks every weight, and only the masked
  weights of the blocks that learn move.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .. import distributed
from ..data import FaceSet, FaceTensors
from ..training import Progress
from .base import ForgetRequest, Method, Outcome, batch_gradients, scaled, setting, timed
from .random_labels import VIT_DEFAULTS, RandomLabelsConfig, train_on_random_labels


@dataclass(frozen=True)
class SalunConfig(RandomLabelsConfig):
    saliency_fraction: float = setting(0.5, 1e-6, 1, "share of all weights that may change: those with the "
                                       "largest forgetting gradient")


def saliency_mask(model: nn.Module, forget: FaceSet, fraction: float, batch_size: int) -> dict[str, torch.Tensor]:
    """Per parameter, True where the weight is among the top `fraction` of all by forgetting-gradient magnitude."""
    sums = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    for _, gradients in batch_gradients(model, FaceTensors(forget), batch_size):
        for name, grad in gradients.items():
            sums[name] += grad
    magnitudes = torch.cat([s.abs().flatten() for s in sums.values()])
    # Exactly the top `fraction` by rank, as the reference: a threshold would take in every tie with it (every
    # weight whose gradient is 0, where it falls on 0).
    chosen = torch.zeros(len(magnitudes), dtype=torch.bool, device=magnitudes.device)
    chosen[magnitudes.topk(max(1, round(fraction * len(magnitudes)))).indices] = True
    parts = chosen.split([s.numel() for s in sums.values()])
    return {name: part.view_as(s) for (name, s), part in zip(sums.items(), parts)}


@contextmanager
def only_masked_weights_learn(model: nn.Module, mask: dict[str, torch.Tensor]):
    """Zero, during backward, every gradient outside the mask."""
    handles = [p.register_hook(lambda grad, keep=mask[name]: grad * keep) for name, p in model.named_parameters()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def salun(original, request: ForgetRequest, config: SalunConfig = SalunConfig(),
          progress: Progress | None = None) -> Outcome:
    forget = request.forget_photos("SalUn")
    model = copy.deepcopy(original)
    outcome = Outcome(model, hyperparameters={"method": "salun", **asdict(config)})
    with timed(outcome.stages, "saliency"):
        mask = saliency_mask(model, forget, config.saliency_fraction, config.batch_size)
        for part in mask.values():  # the ranks training together move the same weights
            distributed.from_rank_zero(part)
    if progress:
        progress("saliency", 0.1)
    with only_masked_weights_learn(model, mask):
        train_on_random_labels(model, request, config, "random labels", outcome, scaled(progress, 0.1, 1))
    model.eval()
    return outcome


METHOD = Method("salun", "SalUn", salun, SalunConfig, zero_glance=False, order=50, arch_defaults={"vit": VIT_DEFAULTS},
                summary="Random Labels on only the weights most salient to forgetting (gradient-magnitude mask)")
