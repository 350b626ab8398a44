"""A small synthetic dataset for the demo and the tests: FITS images of a made-up galaxy.

Written with the standard library only (FITS is 2880-byte blocks of 80-column
header cards followed by big-endian data), so no astropy is needed on the host.
The files are valid FITS that astropy, DS9 and SExtractor read.
"""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path

__all__ = ["make_sample_dataset", "write_fits"]

BLOCK = 2880


def _card(key: str, value: object, comment: str = "") -> str:
    if isinstance(value, bool):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, int):
        text = f"{value:>20d}"
    elif isinstance(value, float):
        text = f"{value:>20.10G}"
    else:
        escaped = str(value).replace("'", "''")
        text = f"'{escaped:<8}'"
    card = f"{key:<8}= {text}"
    if comment:
        card += f" / {comment}"
    return f"{card:<80}"[:80]


def write_fits(path: Path, pixels: list[list[int]], header: dict[str, object]) -> None:
    """Write a 16-bit integer primary image with the given extra header keys."""
    height, width = len(pixels), len(pixels[0])
    cards = [
        _card("SIMPLE", True, "conforms to FITS standard"),
        _card("BITPIX", 16, "16-bit signed integers"),
        _card("NAXIS", 2),
        _card("NAXIS1", width),
        _card("NAXIS2", height),
    ]
    cards += [_card(key, value) for key, value in header.items()]
    cards.append(f"{'END':<80}")
    head = "".join(cards).encode("ascii")
    head += b" " * (-len(head) % BLOCK)
    data = b"".join(struct.pack(f">{width}h", *row) for row in pixels)
    data += b"\0" * (-len(data) % BLOCK)
    path.write_bytes(head + data)


def _galaxy(size: int, seed: int, arms: float) -> list[list[int]]:
    rnd = random.Random(seed)
    c = (size - 1) / 2
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            dx, dy = x - c, y - c
            r = math.hypot(dx, dy) + 1e-6
            theta = math.atan2(dy, dx)
            spiral = 0.5 + 0.5 * math.cos(2 * theta - arms * math.log(r))
            value = 3000 * math.exp(-r / (size / 8)) * (0.6 + 0.4 * spiral) + 100
            row.append(int(min(32000, value + rnd.gauss(0, 8))))
        rows.append(row)
    return rows


def make_sample_dataset(root: Path, *, size: int = 64) -> Path:
    """Create (or refresh) the sample dataset in ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "calibration").mkdir(exist_ok=True)
    for i, band in enumerate(("g", "r", "i")):
        write_fits(
            root / f"m51_{band}.fits",
            _galaxy(size, seed=i, arms=3.0 + i * 0.2),
            {
                "OBJECT": "M51 (synthetic)",
                "TELESCOP": "StarDock Sample",
                "FILTER": band,
                "EXPTIME": 120.0,
                "BUNIT": "ADU",
                "CRPIX1": size / 2,
                "CRPIX2": size / 2,
                "CRVAL1": 202.4696,
                "CRVAL2": 47.1952,
                "CTYPE1": "RA---TAN",
                "CTYPE2": "DEC--TAN",
                "CDELT1": -0.0003,
                "CDELT2": 0.0003,
            },
        )
    flat = [[10000 + ((x * 7 + y * 3) % 11) for x in range(size)] for y in range(size)]
    write_fits(root / "calibration" / "flat_r.fits", flat, {"OBJECT": "flat", "FILTER": "r"})
    (root / "README.txt").write_text(
        "Synthetic images of a spiral galaxy standing in for Messier 51, made by\n"
        "jupyter-stardock for its demo and tests. Three bands (g, r, i), 120 s each,\n"
        "and one flat field. Not real data.\n"
    )
    return root
