"""Click to focus: a local web page that refocuses your photos (Gradio).

    python -m bokeh_jax.app [--checkpoint DIR] [--host 127.0.0.1] [--port 7860]

Drop a photo (any file the render CLI reads; EXIF orientation applied) and its depth map,
or pick a sample; click on the picture to focus there (the CLI's --focus X,Y), drag the
sliders (strength, gamma, highlights: a reduced-size preview while dragging, the full size
when let go), choose the aperture (gaussian, disk, polygon with blades and rotation) and the
renderer (layered, blend), and download the full-resolution result with the photo's ICC
profile and EXIF. With --checkpoint, photos without a depth map get one from its depth head
(the CLI's --depth auto) and the learned mode renders with its trained weights.

The server listens on 127.0.0.1 (this machine only) unless --host says otherwise:
--host 0.0.0.0 lets anyone who can reach this machine's network use the page and upload
files to it (no password). Needs the [app] extra: pip install 'bokeh-jax[app]'.

examples:
  # the page on http://127.0.0.1:7860 with the sample photos
  bokeh-jax app
  # with a checkpoint: depth from its depth head, and its learned mode
  bokeh-jax app --checkpoint runs/demo/phase3/best --port 8080
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bokeh_jax.cli import ArgumentParser, enable_compilation_cache
from bokeh_jax.errors import UserError

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860


def parser(prog: str = "python -m bokeh_jax.app") -> ArgumentParser:
    p = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                       epilog="\n\n".join(__doc__.split("\n\n")[2:]))
    p.add_argument("--checkpoint", metavar="DIR", help="trained or converted checkpoint: its "
                   "depth head for photos without a depth map, and the learned mode")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default "
                   f"{DEFAULT_HOST}: this machine only; 0.0.0.0: every network interface)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default "
                   f"{DEFAULT_PORT})")
    p.add_argument("--preview-size", type=int, default=None, metavar="PIXELS",
                   help="long side of the preview drawn while dragging a slider (default 640)")
    p.add_argument("--no-samples", action="store_true", help="leave out the sample photos")
    return p


def check_args(args) -> None:
    """Flag mistakes, before Gradio or a model loads."""
    if not 1 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: give a port in 1..65535 (default {DEFAULT_PORT})")
    if args.preview_size is not None and not 32 <= args.preview_size <= 4096:
        raise UserError(f"--preview-size {args.preview_size}: give 32..4096 pixels")
    if args.checkpoint is not None and not Path(args.checkpoint).is_dir():
        raise UserError(f"--checkpoint {args.checkpoint}: no such folder")


def _import_gradio():
    # No usage statistics sent from a local tool (and no network here to send them to).
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        import gradio
    except ImportError:
        raise UserError("the app needs Gradio: pip install 'bokeh-jax[app]' (or make "
                        "install)") from None
    return gradio


def main(argv: Sequence[str] | None = None, prog: str = "python -m bokeh_jax.app") -> int:
    args = parser(prog).parse_args(argv)
    check_args(args)
    _import_gradio()
    enable_compilation_cache()
    from bokeh_jax.app import engine, examples, page
    from bokeh_jax.inference.model import load_model

    model = load_model(args.checkpoint) if args.checkpoint else None
    root = Path(tempfile.mkdtemp(prefix="bokeh_jax_app_"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    # `kill` (SIGTERM) exits like Ctrl-C does, so the temporary files go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pairs = [] if args.no_samples else examples.write_samples(root / "samples")
    demo = page.build(model, preview_size=args.preview_size or engine.PREVIEW_SIZE,
                      examples=pairs, root=root,
                      checkpoint_name=Path(args.checkpoint).name if args.checkpoint else None)
    shared = sorted({str(Path(p).parent) for _, *files in pairs for p in files})
    print(f"bokeh-jax app: open http://{args.host}:{args.port} in a browser (Ctrl-C stops it)"
          + ("" if args.host in ("127.0.0.1", "localhost") else
             f"; listening on {args.host}: reachable from other machines"), flush=True)
    try:
        demo.queue(default_concurrency_limit=1).launch(
            server_name=args.host, server_port=args.port, share=False, ssr_mode=False,
            allowed_paths=[str(root), *shared], max_file_size="512mb", quiet=True,
            show_error=False, footer_links=[])
    except OSError as e:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({e}); is the port in "
                        "use? choose another with --port") from None
    return 0

