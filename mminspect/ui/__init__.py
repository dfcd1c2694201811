"""Gradio UI: one module per tab. Imports api and figures only (never torch)."""
from .app import build_app, launch_kwargs, warm_up

__all__ = ["build_app", "launch_kwargs", "warm_up"]
