"""Host staging buffers: allocated once, reused across images and batches, alternating."""

from __future__ import annotations

import numpy as np
import torch

from worker.engine.transfer import HostStaging

CPU = torch.device("cpu")


def test_buffers_are_reused_and_grow_only_when_needed() -> None:
    staging = HostStaging(pin=False)  # the CUDA code path, minus page-locking
    small = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    up = staging.upload(small, CPU)
    assert up.shape == (1, 3, 4, 5) and torch.equal(up[0].permute(1, 2, 0), torch.from_numpy(small))
    assert staging.allocations == 1
    staging.upload(small[:2], CPU)  # smaller: same buffer
    assert staging.allocations == 1
    staging.upload(np.zeros((8, 8, 3), np.uint8), CPU)  # larger: one new buffer
    assert staging.allocations == 2


def test_results_alternate_between_two_slots() -> None:
    staging = HostStaging(pin=False)
    a = torch.full((2, 4, 4, 3), 1, dtype=torch.uint8)
    host_a, ready = staging.download(a)
    host_b, _ = staging.download(a + 1)
    assert ready is None and host_a.data_ptr() != host_b.data_ptr()
    # Batch k+1 lands in the other slot, so batch k can still be read while it copies.
    assert int(host_a[0, 0, 0, 0]) == 1 and int(host_b[0, 0, 0, 0]) == 2
    host_c, _ = staging.download(a + 2)
    assert host_c.data_ptr() == host_a.data_ptr() and staging.allocations == 2
