"""Time the face stage on this machine: detection, GFPGAN per face, paste-back per face.

    python bench/faces.py [--repeat N] [--checkpoint PATH] [--device cpu|cuda]

Without ``--checkpoint`` the GFPGAN network holds random weights under the official layout
(the same arithmetic as GFPGANv1.3/1.4). Machines running other work skew absolute times, so
each GFPGAN pass alternates with a reference pass in the same process: the engine's x4plus
network on a 128x128 input, fp32 (35.9 MFLOP per input pixel, FACTS.md). Prints JSON lines:
medians of N runs after one warm-up, and the ratio face / x4plus-128.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # runs as a script, installed or not

import cv2  # noqa: E402
import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from tests.engine.faces.conftest import CountingRestorer  # noqa: E402
from tests.engine.faces.photos import astronaut, group_photo  # noqa: E402
from tests.engine.faces.test_restorer import official_layout_state  # noqa: E402
from worker.engine import NETWORKS, load_network  # noqa: E402
from worker.faces import FaceEnhancer, load_face_detector, load_face_restorer  # noqa: E402
from worker.faces.restorer import GfpganRestorer, RestorerInfo, gfpgan_from_state_dict  # noqa: E402


def _median_ms(fn, repeat: int) -> tuple[float, list[float]]:
    fn()  # warm-up
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), [round(r, 1) for r in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(
        json.dumps(
            {
                "machine": platform.processor() or platform.machine(),
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "load_avg": os.getloadavg(),
            }
        )
    )

    detector = load_face_detector(device)
    for name, image in [
        ("astronaut-512", astronaut()),
        ("group-1280x720", group_photo()),
        ("group-3840x2160", cv2.resize(group_photo(), None, fx=3, fy=3)),
    ]:
        ms, runs = _median_ms(lambda image=image: detector.detect(image), args.repeat)
        print(json.dumps({"case": f"detect {name}", "ms": round(ms, 1), "runs": runs}))

    if args.checkpoint:
        restorer = load_face_restorer(args.checkpoint, device)
    else:
        network = gfpgan_from_state_dict(official_layout_state(), "generated")
        info = RestorerInfo(Path("generated"), "", "GFPGANv1Clean")
        restorer = GfpganRestorer(network, info, device, torch.float32)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        restorer.network(torch.zeros(1, 3, 512, 512, device=device), return_rgb=False)
    x4plus = load_network(NETWORKS[("realesrgan-x4plus", 4)], cache_dir=None).to(device)
    tile = torch.rand(1, 3, 128, 128, device=device)
    crop = astronaut()
    face_runs, ref_runs = [], []
    restorer.restore(crop)
    with torch.inference_mode():
        x4plus(tile)
    for _ in range(args.repeat):  # alternate, so background load hits both alike
        start = time.perf_counter()
        restorer.restore(crop)
        face_runs.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        with torch.inference_mode():
            x4plus(tile)
        ref_runs.append((time.perf_counter() - start) * 1000)
    face_ms, ref_ms = statistics.median(face_runs), statistics.median(ref_runs)
    gflop = round(counter.get_total_flops() / 1e9, 1)
    print(
        json.dumps(
            {
                "case": "gfpgan per face (fp32)",
                "ms": round(face_ms, 1),
                "runs": [round(r, 1) for r in face_runs],
                "gflop": gflop,
            }
        )
    )
    print(
        json.dumps(
            {
                "case": "x4plus 128x128 (fp32, reference)",
                "ms": round(ref_ms, 1),
                "runs": [round(r, 1) for r in ref_runs],
                "gflop": round(128 * 128 * 35.9e-3, 1),
            }
        )
    )
    print(json.dumps({"case": "ratio face / x4plus-128", "ratio": round(face_ms / ref_ms, 3)}))

    # The stage without the restorer: alignment, colour, paste (group photo, 5 faces, x4).
    image = group_photo()
    up = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_LINEAR)
    enhancer = FaceEnhancer(detector, CountingRestorer("identity"))
    detect_ms, _ = _median_ms(lambda: detector.detect(image), args.repeat)
    stage_ms, runs = _median_ms(lambda: enhancer.enhance(image, up, fidelity=0.0), args.repeat)
    print(
        json.dumps(
            {
                "case": "stage without restorer, group x4, per face",
                "faces": 5,
                "ms_per_face": round((stage_ms - detect_ms) / 5, 1),
                "stage_ms": round(stage_ms, 1),
                "detect_ms": round(detect_ms, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
