"""Give big freed buffers back to the operating system (glibc), so memory bounds hold.

glibc's malloc serves allocations above its mmap threshold with mmap (returned to the system
on free) but raises that threshold, up to 32 MB, each time such a block is freed: after the
first few uploads, 25 MB bodies and decoded pictures come from the heap arenas of the thread
pool instead, and what they free stays in the process. Measured on the gateway with 20
concurrent 24 MB uploads: 55 MB of peak memory per upload with the moving threshold, 41 MB
with it fixed at 1 MiB (docs/admission.md). Setting ``M_MMAP_THRESHOLD`` fixes it (and stops
the moving); ``MALLOC_MMAP_THRESHOLD_`` in the environment does the same before start-up.
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: mallopt's parameter number for the mmap threshold (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3
#: Blocks from 1 MiB up are mapped, and unmapped on free.
THRESHOLD = 1 << 20


def return_large_blocks_to_os() -> bool:
    """Fix glibc's mmap threshold at 1 MiB; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
