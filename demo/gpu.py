"""`on_gpu`: Hugging Face ZeroGPU's `spaces.GPU` where the `spaces` package exists, the app's compute
thread elsewhere."""
from __future__ import annotations

from collections.abc import Callable

from .compute import computes

try:
    import spaces
except ImportError:  # not on Hugging Face Spaces
    spaces = None


def on_gpu(duration: int) -> Callable[[Callable], Callable]:
    """Run the function with a GPU attached for at most `duration` seconds (ZeroGPU runs it in
    another process, so it must take and return picklable CPU data); elsewhere on the compute thread."""
    def decorate(function: Callable) -> Callable:
        # Outside a ZeroGPU Space (SPACES_ZERO_GPU unset) spaces.GPU hands the function back unchanged.
        on_zero_gpu = spaces.GPU(duration=duration)(function) if spaces is not None else function
        return computes(function) if on_zero_gpu is function else on_zero_gpu
    return decorate
