"""Several processes (torchrun) with PyTorch's own torch.distributed: one process group per run.

`unsir` started by torchrun (WORLD_SIZE > 1) joins the group in `process_group()`; then `fit`
trains data-parallel (DistributedDataParallel over a DistributedSampler), except inside
`independent()`, where each rank trains its own models (the benchmark's cells). Without
torchrun every function here is a no-op and a single process behaves exactly as before.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

# A benchmark rank may wait at the final barrier while another finishes a slow retrain; the
# default 30 minutes would kill a healthy run. Only those barriers wait that long (their own group):
# a collective of a training step that hangs fails within the default.
BARRIER_TIMEOUT = timedelta(hours=12)

_data_parallel = True  # False inside independent()
_patient = None  # the group whose barriers wait BARRIER_TIMEOUT


@dataclass(frozen=True)
class Ranks:
    rank: int
    world_size: int
    backend: str


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


class LaunchError(RuntimeError):
    """torchrun started the processes in a way this machine cannot serve."""


@contextlib.contextmanager
def process_group():
    """Join torchrun's process group for the duration (gloo on CPU, nccl on CUDA); no-op without torchrun."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield
        return
    if torch.cuda.is_available():
        local_rank, gpus = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local_rank >= gpus:  # NCCL needs one GPU per process
            raise LaunchError(f"torchrun started more processes on this node than it has GPUs ({gpus}): use "
                              f"--nproc-per-node {gpus}, or hide the GPUs (CUDA_VISIBLE_DEVICES=) to train on the CPU "
                              "with gloo.")
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    global _patient
    _patient = dist.new_group(backend="gloo", timeout=BARRIER_TIMEOUT)
    try:
        yield
    finally:
        _patient = None
        dist.destroy_process_group()


def ranks() -> Ranks | None:
    """This process's place in the group, or None when it runs alone."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    return Ranks(dist.get_rank(), dist.get_world_size(), dist.get_backend())


def training_ranks() -> Ranks | None:
    """The group `fit` trains across: None when alone or inside independent()."""
    return ranks() if _data_parallel else None


def is_main() -> bool:
    """Rank 0, or a process running alone: the one that prints and writes files."""
    group = ranks()
    return group is None or group.rank == 0


@contextlib.contextmanager
def independent():
    """Each rank trains its own models here (no gradient sharing): for work split by rank."""
    global _data_parallel
    previous, _data_parallel = _data_parallel, False
    try:
        yield
    finally:
        _data_parallel = previous


def shard(loader: DataLoader, group: Ranks | None) -> DataLoader:
    """The same loader with each rank reading 1/world of every epoch; the global batch is kept.

    Each rank's batch is ceil(batch / world); DistributedSampler pads the last shard with a few
    repeated photos so that every rank takes the same number of steps.
    """
    if group is None or isinstance(loader.sampler, DistributedSampler):
        return loader
    shuffle = isinstance(loader.sampler, RandomSampler)
    # Every rank draws the same seed from the same seeded generator, so the shards partition one permutation.
    seed = int(torch.randint(2**31 - 1, (1,), generator=loader.generator)) if loader.generator is not None else 0
    sampler = DistributedSampler(loader.dataset, num_replicas=group.world_size, rank=group.rank, shuffle=shuffle,
                                 seed=seed)
    per_rank = -(-loader.batch_size // group.world_size)
    return DataLoader(loader.dataset, batch_size=per_rank, sampler=sampler, num_workers=loader.num_workers,
                      pin_memory=loader.pin_memory, drop_last=loader.drop_last,
                      persistent_workers=loader.num_workers > 0)


def data_parallel(model: torch.nn.Module, group: Ranks | None) -> torch.nn.Module:
    """`model` wrapped in DistributedDataParallel (weights taken from rank 0), or itself when alone."""
    if group is None:
        return model
    device = next(model.parameters()).device
    # No buffer broadcast before every forward: training normalises with each batch's own statistics, and
    # `average_buffers` makes the running statistics one at the end. Gradients live in DDP's buckets
    # (no copy into them and back each step).
    # Gradients travel in float32: in float16 or bfloat16 (half the bytes) two gloo processes trained no faster
    # on this CPU (docs/SCALE.md), and float16 turns a gradient above 65504 into inf.
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   forward_sync_buffers=False, gradient_as_bucket_view=True)


@contextlib.contextmanager
def own_random_draws(group: Ranks | None):
    """While training together, each rank draws its own flips, crops and dropout from the global generator
    (seeded alike on every rank, it would give every rank's k-th photo the same ones); afterwards the
    generator is as if one draw had been made, the same on every rank, so their later draws agree again."""
    if group is None:
        yield
        return
    seed = int(torch.randint(2**62, (1,)))
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if group.backend == "nccl" else []):
        torch.manual_seed(seed + group.rank)
        yield


def agreed(value, problem: str):
    """`value`, checked to be the same on every rank training together (LaunchError naming `problem` if
    not): a choice that makes the ranks take different paths would leave them waiting for each other."""
    group = training_ranks()
    if group is None:
        return value
    values = [None] * group.world_size
    dist.all_gather_object(values, value)
    if any(other != value for other in values):
        raise LaunchError(f"{problem} (per rank: {values})")
    return value


def from_rank_zero(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor`, in place, as rank 0 computed it, on every rank training together. What each rank computes
    alone before training together (UNSIR's noise, SalUn's mask, relearn's stop) is bit for bit alike on the
    CPU, seeded alike; a GPU's kernels need not be deterministic, and the ranks must go on with one."""
    if training_ranks() is not None:
        dist.broadcast(tensor.view(torch.uint8) if tensor.dtype == torch.bool else tensor, src=0)
    return tensor


def writes_training_results() -> bool:
    """Whether this process writes what `fit` trained: rank 0 when the ranks trained one model together,
    every process when it trained its own (alone, or inside independent())."""
    group = training_ranks()
    return group is None or group.rank == 0


def average_buffers(model: torch.nn.Module, group: Ranks | None) -> None:
    """Average BatchNorm's running statistics over the ranks: each rank's followed its own shards through the
    whole fit, and the ranks must end with one model."""
    if group is None:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= group.world_size


def mean_across(value: float, group: Ranks | None) -> float:
    """The mean of `value` over the ranks (each rank's mean loss -> the global mean loss)."""
    if group is None:
        return value
    total = torch.tensor([value], dtype=torch.float64,
                         device="cuda" if group.backend == "nccl" else "cpu")
    dist.all_reduce(total)
    return float(total) / group.world_size


def barrier() -> None:
    """Wait (up to BARRIER_TIMEOUT) until every rank gets here."""
    if ranks() is not None:
        dist.barrier(group=_patient)
