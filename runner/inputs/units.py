"""Sizes as every command shows them: one helper, binary units (a file system's and
Azure ML's limits are powers of two), so `5.9 KB` never stands next to `28.2 KiB`."""

from __future__ import annotations


def size_text(count: int) -> str:
    """Bytes as a person reads them: 512 B, 4.5 KiB, 12.0 MiB, 1.2 GiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{count:,} B" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{count:,} B"
