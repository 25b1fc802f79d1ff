"""Hugging Face Spaces runs this file: build the page and serve it.

Host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (default 127.0.0.1:7860);
the checkpoints from UNSIR_MODELS_DIR (default models/ beside this file).
"""
from demo.gpu import spaces  # noqa: F401  (ZeroGPU needs `spaces` imported before torch)
from demo.ui import LAUNCH_OPTIONS, build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**LAUNCH_OPTIONS)
