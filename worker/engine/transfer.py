"""Reusable (pinned) host buffers for the uint8 traffic between host and device.

Pinning memory is slow (a page-locking system call; pinning on the fly can halve transfer
throughput), and only pinned memory copies asynchronously. So the buffers are allocated once,
grown when a larger image or batch comes along, and reused: one for the input image and two
for batch results, alternating, so the device can copy batch k+1 while the host blends
batch k. On the CPU (``pin=False``) the same logic runs on ordinary memory, which keeps it
testable without a GPU.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["HostStaging"]


class HostStaging:
    """One input buffer and two alternating result buffers, grown on demand, never shrunk."""

    def __init__(self, pin: bool) -> None:
        """``pin``: page-lock the buffers (needs CUDA)."""
        self.pin = pin
        self._input = self._alloc(0)
        self._input_copied: torch.cuda.Event | None = None
        self._slots = [self._alloc(0), self._alloc(0)]
        self._next = 0
        self.allocations = 0  # buffers allocated so far (tests check reuse)

    def _alloc(self, nbytes: int) -> torch.Tensor:
        """A flat uint8 buffer of ``nbytes`` (pinned when asked)."""
        return torch.empty(nbytes, dtype=torch.uint8, pin_memory=self.pin and nbytes > 0)

    def _fit(self, buf: torch.Tensor, nbytes: int) -> torch.Tensor:
        """Return ``buf`` if it holds ``nbytes``, else a new buffer with a little headroom."""
        if buf.numel() >= nbytes:
            return buf
        self.allocations += 1
        # 1/8 headroom so that slightly larger images do not reallocate each time.
        return self._alloc(nbytes + nbytes // 8)

    def upload(self, image: np.ndarray, device: torch.device) -> torch.Tensor:
        """Copy a uint8 HxWx3 image to ``device`` through the input buffer; return (1,3,H,W)."""
        if self._input_copied is not None:
            # The previous upload may still be reading the buffer (e.g. after a cancelled job).
            self._input_copied.synchronize()
        self._input = self._fit(self._input, image.nbytes)
        staged = self._input[: image.nbytes].view(image.shape)
        staged.numpy()[...] = image  # one host memcpy into pinned memory
        if self.pin:
            on_device = staged.to(device, non_blocking=True)
            self._input_copied = torch.cuda.Event()
            self._input_copied.record()
        else:
            on_device = staged.to(device, copy=True)
        return on_device.permute(2, 0, 1).unsqueeze(0)

    def download(self, result: torch.Tensor) -> tuple[torch.Tensor, torch.cuda.Event | None]:
        """Start copying a uint8 (B,H,W,3) device tensor into the next result buffer.

        Returns the host view and, when pinned, the event that says the copy has landed. The
        view stays valid until the next-but-one ``download``.
        """
        k = self._next
        self._next ^= 1
        nbytes = result.numel()
        self._slots[k] = self._fit(self._slots[k], nbytes)
        host = self._slots[k][:nbytes].view(result.shape)
        if not self.pin:
            host.copy_(result)
            return host, None
        host.copy_(result, non_blocking=True)
        ready = torch.cuda.Event()
        ready.record()
        return host, ready
