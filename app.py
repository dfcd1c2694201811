"""Entry point: `python app.py [--port N]`. Hugging Face Spaces imports `demo` from here."""
import argparse

try:  # ZeroGPU needs `spaces` imported before torch touches CUDA; absent elsewhere
    import spaces  # noqa: F401
except ImportError:
    pass

from mminspect.ui import build_app, launch_kwargs, warm_up  # noqa: E402

demo = build_app()

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="mminspect web app")
    parser.add_argument("--port", type=int, default=None,
                        help="port to serve on (default: $GRADIO_SERVER_PORT or 7860)")
    warm_up()
    demo.launch(**launch_kwargs(parser.parse_args().port))
