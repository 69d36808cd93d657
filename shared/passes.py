"""Which native model scales run for a requested scale, and on how many pixels each.

One home for the pass rule (documented with its reasons in ``worker.scaling``): the worker
runs it, and the gateway prices a job by it before accepting it (``shared.cost``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def plan_passes(native_scales: Sequence[int], requested: int) -> list[int]:
    """The native model scales to run, in order, for an integer ``requested`` scale (>= 1)."""
    if requested < 1:
        raise ValueError(f"scale must be >= 1, not {requested}")
    natives = sorted({s for s in native_scales if s >= 1})
    if not natives:
        raise ValueError("a model needs at least one native scale >= 1")
    reaching = [s for s in natives if s >= requested]
    if reaching:
        return [reaching[0]]
    biggest = natives[-1]
    if biggest == 1:
        raise ValueError(f"a x1-only model cannot reach x{requested}")
    # Fewest passes, counted exactly in integers (floating log can be off by one).
    passes = 1
    while biggest**passes < requested:
        passes += 1
    rest = biggest ** (passes - 1)
    first = next(s for s in natives if s * rest >= requested)
    return [first] + [biggest] * (passes - 1)


def size_before(width: int, height: int, requested: int, rest: int) -> tuple[int, int]:
    """Input size for the remaining passes (product ``rest``) to land on ``requested``."""
    return max(1, round(width * requested / rest)), max(1, round(height * requested / rest))


def pass_inputs(
    width: int, height: int, scales: Sequence[int], requested: int
) -> list[tuple[int, int]]:
    """The (width, height) each pass runs on: later passes on an intermediate shrunk so that
    the remaining passes land on the requested size (never enlarged between passes)."""
    sizes = [(width, height)]
    current = (width, height)
    for k in range(1, len(scales)):
        grown = (current[0] * scales[k - 1], current[1] * scales[k - 1])
        target = size_before(width, height, requested, math.prod(scales[k:]))
        current = target if target[0] <= grown[0] and target[1] <= grown[1] else grown
        sizes.append(current)
    return sizes
