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
    if spaces is None:
        return computes
    return spaces.GPU(duration=duration)
