"""The gateway's memory under 20 concurrent maximum-size uploads (issue #11).

Starts a gateway process (local storage, admission open) and sends 20 uploads of a
noise PNG just under the 25 MB limit at once, from 7 client networks (127.0.N.1: a network may
hold 3 uploads in memory at once); prints the gateway's peak resident memory (VmHWM) before
and after, and the answers.

    .venv/bin/python bench/gateway_memory.py [--uploads 20]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # runs as a script: the test helpers start the process

from tests.support.env import UNLIMITED_ADMISSION_ENV  # noqa: E402
from tests.support.net import free_port, http, multipart, wait_http_ok  # noqa: E402
from tests.support.processes import Service  # noqa: E402


def rss_peak_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def big_png(limit: int) -> bytes:
    """A noise PNG just under ``limit`` bytes (noise does not compress)."""
    side = int((limit * 0.95 / 3) ** 0.5)
    noise = np.random.default_rng(3).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gateway-memory-"))
    port = free_port()
    env = {
        **UNLIMITED_ADMISSION_ENV,
        "GATEWAY_PORT": str(port),
        "STORAGE_LOCAL_DIR": str(root / "s"),
        "CRYPTO_LOCAL_KEY_FILE": str(root / "k"),
        "JOBS_MAX_INPUT_PIXELS": "16000000",
        "GATEWAY_MAX_UPLOADS_IN_MEMORY": "20",
    }
    gateway = Service("gateway", ["-m", "gateway"], env, root)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", 60, gateway)
        image = big_png(25_000_000)
        body, ctype = multipart({"model": "realesr-animevideov3", "scale": "1"}, image)
        idle = rss_peak_mb(gateway.proc.pid)
        codes: Counter[int] = Counter()
        lock = threading.Lock()

        def send(n: int) -> None:
            source = f"127.0.{n % 7}.1"
            code = http(
                "POST",
                f"http://127.0.0.1:{port}/v1/jobs",
                body,
                {"Content-Type": ctype},
                source=source,
            )[0]
            with lock:
                codes[code] += 1

        threads = [threading.Thread(target=send, args=(n,)) for n in range(args.uploads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = rss_peak_mb(gateway.proc.pid)
        print(
            f"{args.uploads} concurrent uploads of {len(image) / 1e6:.1f} MB: answers "
            f"{dict(codes)}; gateway RSS idle {idle[0]:.0f} MB, peak {after[1]:.0f} MB "
            f"(+{after[1] - idle[0]:.0f} MB, "
            f"{(after[1] - idle[0]) / args.uploads:.1f} MB per upload)"
        )
    finally:
        gateway.stop()


if __name__ == "__main__":
    main()
