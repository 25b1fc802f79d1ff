"""`on_gpu`: Hugging Face ZeroGPU's `spaces.GPU` where the `spaces` package exists, the app's compute
thread elsewhere."""
from __future__ import annotations

from collections.abc import Callable

from .compute import computes

try:
    import spaces
except ImportError:  # not on Hugging Face Spaces
    spaces = None


# The longest GPU call ZeroGPU schedules: it refuses a longer request outright ("the requested GPU duration is
# larger than the maximum allowed"), whatever the visitor's quota. Within it, a shorter request queues sooner.
ZERO_GPU_LONGEST = 300


def on_gpu(duration: int) -> Callable[[Callable], Callable]:
    """Run the function with a GPU attached for at most `duration` seconds (ZeroGPU runs it in
    another process, so it must take and return picklable CPU data); elsewhere on the compute thread."""
    if duration > ZERO_GPU_LONGEST:
        raise ValueError(f"ZeroGPU schedules at most {ZERO_GPU_LONGEST} s a call, not {duration}")

    def decorate(function: Callable) -> Callable:
        # Outside a ZeroGPU Space (SPACES_ZERO_GPU unset) spaces.GPU hands the function back unchanged.
        on_zero_gpu = spaces.GPU(duration=duration)(function) if spaces is not None else function
        return computes(function) if on_zero_gpu is function else on_zero_gpu
    return decorate
