"""What every notebook sets up first: inline figures small enough to keep in a committed notebook."""
from __future__ import annotations

INLINE_DPI = 80  # screen resolution (matplotlib's default is 100)


def inline_figures(dpi: int = INLINE_DPI) -> None:
    """Show inline figures as PNG at `dpi`, so that a notebook stored with its outputs (`make notebooks`)
    stays small. Only the inline display changes: figures saved to files keep their own dpi and layout."""
    from matplotlib_inline.config import InlineBackend

    InlineBackend.instance().print_figure_kwargs = {"bbox_inches": "tight", "dpi": dpi}


def save_figure(fig, path, dpi: int = 110) -> None:
    """Write a notebook's figure to a file the README links (`resources/...`), tight and at `dpi`."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
