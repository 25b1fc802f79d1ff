"""SCRUB: alternate steps away from the original on forgotten photos and towards it on kept ones. NOT zero-glance.

Paper: Kurmanji, Triantafillou, Hayes, Triantafillou, "Towards Unbounded Machine Unlearning",
NeurIPS 2023. Reference: github.com/meghdadk/SCRUB (`thirdparty/repdistiller/helper/loops.py`,
`train_distill`; the schedule and settings of `large_scale_unlearning.ipynb`).

The student is a copy of the original, the teacher the original, frozen; one SGD optimiser over the
student serves both passes. Each epoch: while the epoch is among the first `max_epochs`, one max pass over the
forgotten photos (minimise −T²·KL(teacher ‖ student), i.e. move away from the teacher), then one
min pass over kept photos (cross-entropy + `kl_weight` × T²·KL to the teacher). Both are passes of
the one training loop with the same optimiser, so no second loop is needed.

Changed from the reference, and why:
- The min passes read a seeded subset of `retain_per_id` kept photos per person, not every kept
  photo: a pass over all of them takes about 20 s per epoch here.
- The min loss is written (1 − w)·CE + w·T²·KL (the project's distillation loss), w = 0.001; the
  reference's γ = 0.99, α = 0.001 are the same up to a factor of 0.991.
- No learning-rate decay (the reference divides the rate by 10 after its third epoch, its last); the
  two added min passes run at the full rate.
- A max pass takes at least `max_pass_steps` (4) steps, a small forget set gone over again: a person
  has 10-60 training photos here, a CIFAR class 5,000, so one pass in batches of 32 is a single step
  on one face and 150 on a CIFAR class. Smaller batches instead (8) forgot one person but wrecked the
  model at 20 (63 steps a pass). The rate is 0.01, not 5e-4, which moved nothing, and there are five
  min passes, not three, to restore the kept people after the max passes at 20 people
  (benchmarks/SWEEP-methods.md).

- On the ResNet18 each max step's gradient is clipped to a norm of 2 (`max_grad_norm`; the reference
  does not clip). Unclipped, the max passes cost the kept people 20-25 points on 2 of 3 reported sets
  and 1 of 3 tuning sets at 20 people: on the tuning set that collapsed, the max steps' gradient norm
  grew from 0.6 to 2.4 over one pass and reached 11, the divergence from the teacher feeding itself.
  Fewer, larger steps (batches of 64 or 128) kept everyone but left 23-80 % of the forgotten
  recognised, and freezing the blocks before layer3 made that set collapse further (-67 points). With
  the clip at 2 it met the target on the six tuning sets it was chosen on (1 and 20 people; on five more
  single people, drawn after, it left two of one person's three photos named); at 1 it left half of a
  lone person's photos recognised (SWEEP-methods.md). Still not safe: on the reported sets it cost
  the kept people 11.8 and 7.6 points on two of three 20-person sets (METHODS.md). The ViT keeps the
  unclipped steps: it is not tuned here.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset

from ..data import FaceTensors
from ..nets import learning_from
from ..training import Progress, bf16_helps, distillation_loss, fit, kl_to, loader, seed_everything
from .base import ForgetRequest, Method, Outcome, check_learn_from, learn_from_setting, scaled, setting, timed

WEIGHT_DECAY = 5e-4  # the reference's


@dataclass(frozen=True)
class ScrubConfig:
    retain_per_id: int = setting(10, 1, 500, "retain subset: training photos per kept person (seeded sample)")
    # Two more min passes than the reference's three: at 20 people the max passes cost 6 points of kept accuracy.
    epochs: int = setting(5, 1, 50, "min passes over the retain subset")
    max_epochs: int = setting(2, 0, 50, "of those epochs, how many first make a max pass over the forgotten photos")
    # The reference's 5e-4 left a lone person fully recognised and 20 people at 89 % (SWEEP-methods.md).
    lr: float = setting(0.01, 1e-8, 1, "learning rate (SGD, momentum 0.9, weight decay 5e-4)")
    kl_weight: float = setting(0.001, 0, 1, "min passes: weight of the KL to the original (cross-entropy: the rest)")
    temperature: float = setting(4.0, 0.1, 100, "softening of the original's and the student's outputs")
    forget_batch_size: int = setting(32, 1, 1024, "forgotten photos per max step")
    max_pass_steps: int = setting(4, 1, 1000, "each max pass takes at least this many steps: a person's few "
                                  "photos are gone over again")
    batch_size: int = setting(128, 1, 1024, "kept photos per min step")
    max_grad_norm: float | None = setting(None, 1e-6, 1e6, "max passes: each step's gradient norm is clipped to "
                                          "this (None: no clipping)")
    learn_from: str = learn_from_setting()

    def validate(self, arch: str | None = None) -> None:
        check_learn_from(self.learn_from, arch)


def away_from(teacher: nn.Module, temperature: float):
    """The max step's loss: minus the divergence from the frozen teacher."""
    teacher.eval()

    def loss(model, inputs, labels):
        with torch.no_grad():
            target = F.softmax(teacher(inputs).float() / temperature, dim=1)
        return -temperature**2 * kl_to(model(inputs), target, temperature)

    return loss


def scrub(original, request: ForgetRequest, config: ScrubConfig = ScrubConfig(),
          progress: Progress | None = None) -> Outcome:
    forget, retain, read = request.forgotten_and_kept("SCRUB", config.retain_per_id)
    generator = seed_everything(request.seed)
    model = copy.deepcopy(original)
    device = next(model.parameters()).device
    outcome = Outcome(model, data_read=read, hyperparameters={"method": "scrub", **asdict(config)})
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, weight_decay=WEIGHT_DECAY)
    repeats = math.ceil(config.max_pass_steps / math.ceil(len(forget) / config.forget_batch_size))
    forget_batches = loader(ConcatDataset([FaceTensors(forget)] * repeats), config.forget_batch_size, generator)
    retain_batches = loader(FaceTensors(retain), config.batch_size, generator)
    max_loss = away_from(original, config.temperature)
    min_loss = distillation_loss(original, config.kl_weight, config.temperature, label_smoothing=0.0)
    autocast = bf16_helps(device)
    with learning_from(model, config.learn_from) as learner:
        for epoch in range(config.epochs):
            epoch_progress = scaled(progress, epoch / config.epochs, (epoch + 1) / config.epochs)
            if epoch < config.max_epochs:
                with timed(outcome.stages, "max"):
                    fit(learner, forget_batches, optimizer, loss_fn=max_loss, autocast=autocast, stage="max",
                        max_grad_norm=config.max_grad_norm, progress=scaled(epoch_progress, 0, 0.2))
            with timed(outcome.stages, "min"):
                fit(learner, retain_batches, optimizer, loss_fn=min_loss, autocast=autocast, stage="min",
                    progress=scaled(epoch_progress, 0.2, 1))
    model.eval()
    return outcome


METHOD = Method("scrub", "SCRUB", scrub, ScrubConfig, zero_glance=False, order=30,
                arch_defaults={"resnet18": {"max_grad_norm": 2.0}},
                summary="alternate steps away from the original on forgotten photos and towards it on kept ones",
                untuned={"vit": "on the tuning sets its defaults cost the kept people 51-73 points at 20 people"})
