"""The Gradio app: pick faces, forget them with UNSIR, compare the model before and after.

`workspace` (checkpoints shared by all sessions) -> `handlers` (the work, as plain functions)
-> `figures` (matplotlib Figures) -> `ui` (the gr.Blocks layout and event wiring).
"""
