"""Shared by the teachers' ``forward_features``: check requested taps, and how deep to run."""

from __future__ import annotations

from ..errors import UnknownNameError


def requested_taps(layers, taps: tuple, net_name: str) -> tuple[set, int]:
    """-> (set of requested tap names, index in ``taps`` of the deepest one). Unknown names fail with the valid ones."""
    for name in layers:
        if name not in taps:
            raise UnknownNameError(f"{net_name} layer", name, taps)
    if not layers:
        raise ValueError(f"ask {net_name} for at least one layer of: {', '.join(taps)}")
    return set(layers), max(taps.index(n) for n in layers)
