"""Sizes in one unit system everywhere (runner/inputs/units.py): binary units, with
thousands separators."""

from __future__ import annotations

from runner.inputs.units import size_text


def test_sizes_in_binary_units() -> None:
    assert [size_text(n) for n in (0, 1023, 1024, 6041, 28_877, 5 << 20, 3 << 30, 4096 << 30)] == [
        "0 B", "1,023 B", "1.0 KiB", "5.9 KiB", "28.2 KiB", "5.0 MiB", "3.0 GiB", "4,096.0 GiB"]
