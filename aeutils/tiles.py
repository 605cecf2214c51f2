"""Running a fully convolutional network over a large image in overlapping tiles.

Each tile is computed with `margin` cells of context on every side and only its centre is kept, so
memory is bounded by the tile, not the image. When the margin covers the network's receptive-field
radius, the stitched result is the one the whole-image pass gives (up to float rounding); an image
that fits in one tile is the whole-image pass itself.
"""
from __future__ import annotations

from typing import Callable

import torch
from tqdm.auto import tqdm


def tiled(fn: Callable[[int, int, int, int], torch.Tensor], height: int, width: int, tile: int,
          margin: int = 0, scale: int = 1, progress: bool = False) -> torch.Tensor:
    """Stitch `fn` over a `height` x `width` grid of cells, `tile` cells a side.

    fn(top, bottom, left, right) computes the window of rows top:bottom and columns left:right
    (a tile and its margin, clipped to the grid) and returns (N, C, rows * scale, columns * scale):
    `scale` output pixels per cell. Returns (N, C, height * scale, width * scale), of fn's dtype.
    `progress`: a progress bar over the tiles, when there is more than one."""
    out = None
    origins = [(top, left) for top in range(0, height, tile) for left in range(0, width, tile)]
    for top, left in tqdm(origins, desc="tiles", disable=not progress or len(origins) == 1):
        y0, x0 = max(top - margin, 0), max(left - margin, 0)
        part = fn(y0, min(top + tile + margin, height), x0, min(left + tile + margin, width))
        if out is None:
            out = part.new_empty(*part.shape[:2], height * scale, width * scale)
        bottom, right = min(top + tile, height), min(left + tile, width)
        out[..., top * scale:bottom * scale, left * scale:right * scale] = \
            part[..., (top - y0) * scale:(bottom - y0) * scale, (left - x0) * scale:(right - x0) * scale]
    return out
