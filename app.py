"""seglab's web app: `python app.py`, then open http://127.0.0.1:7860 (host and port from
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT). The same file is the Hugging Face Space entry point."""
import logging
import os

from ui import STYLE, build_demo

demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    demo.launch(css_paths=STYLE, server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
