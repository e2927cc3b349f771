"""PNG and SVG of the report's figures: one Chrome (kaleido), started in the background as
early as the report knows it will export, so that its start (~1.5 s) overlaps the rest.

Light on purpose: ``tasks.report`` starts Chrome through :func:`start` before it imports the
report modules (plotly, Optuna) and before Hydra sets the job up.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# WebGL figures stay HTML only: a Chrome without a GPU takes ~1.7 s per image of one (as long as
# all other figures together), and their SVG would only hold the same raster as the PNG
HTML_ONLY = ("parallel",)
TABS = 2  # two figures render at once (2 cores: measured 5.4 s against 5.8 s with one)


def chrome_found() -> bool:
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return any(shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome", "chrome"))


def start(images: bool | None) -> bool:
    """Start Chrome in the background when the report will export images (``images``: true,
    or null and a Chrome is found); returns whether it will."""
    on = chrome_found() if images is None else images
    if on:
        import kaleido

        logging.getLogger("choreographer").setLevel(logging.WARNING)
        logging.getLogger("kaleido").setLevel(logging.WARNING)
        kaleido.start_sync_server(n=TABS, mathjax=False, silence_warnings=True)  # no CDN
    return on


def stop() -> None:
    """Chrome closed (if it runs); on an early exit too, so that no half-started page is torn
    down with the interpreter."""
    try:
        import kaleido
    except ImportError:
        return
    kaleido.stop_sync_server(silence_warnings=True)


@contextmanager
def chrome(images: bool | None) -> Iterator[bool]:
    """Whether the report exports images, with Chrome running (started here unless
    :func:`start` did it already) until the block ends."""
    on = start(images)
    try:
        yield on
    finally:
        if on:
            stop()


def export_images(plots: list[tuple[str, Any]], out: Path) -> None:
    """PNG and SVG of every figure but the WebGL ones, in one batch on the running Chrome."""
    import kaleido

    kaleido.write_fig_from_object_sync(
        [
            {
                "fig": fig.to_dict(),
                "path": out / f"{name}.{ext}",
                "opts": {"format": ext, "width": 1000, "height": 650, "scale": 1},
            }
            for name, fig in plots
            if name not in HTML_ONLY
            for ext in ("png", "svg")
        ]
    )
