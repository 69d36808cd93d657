"""``python -m gateway.client``: upscale a photo, read a job's status, delete a job.

Messages and the progress bar go to stderr; stdout gets what a script wants: the path of the
written result, a status document, a deletion receipt (JSON).

Exit status: 0 done; 1 the job failed; 2 bad usage; 3 the service refused or could not be
reached; 4 no such job (wrong token, deleted or expired); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from gateway.client.api import Api, ServiceError
from gateway.client.follow import Follower, JobGone
from gateway.client.progress import ProgressBar

DEFAULT_URL = "http://127.0.0.1:8000"
EXTENSIONS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp"}
FAILED, USAGE, SERVICE, GONE, INTERRUPTED = 1, 2, 3, 4, 130


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = parser().parse_args(argv)
    bar = ProgressBar()
    api = Api(args.url, on_wait=lambda s, e: bar.message(f"{e.message} Waiting {s:.0f} s."))
    try:
        if args.command == "upscale":
            return upscale(api, bar, args)
        token = args.token or os.environ.get("PICUPSCALER_TOKEN")
        if not token:
            print("error: give the job's token (--token or PICUPSCALER_TOKEN)", file=sys.stderr)
            return USAGE
        if args.command == "status":
            print_json(api.status(args.id, token))
        else:
            print_json(api.delete(args.id, token))
        return 0
    except ServiceError as error:
        bar.message(f"error: {error}")
        return GONE if error.status == 404 else SERVICE
    except KeyboardInterrupt:
        bar.message("interrupted")
        return INTERRUPTED
    finally:
        api.close()


def upscale(api: Api, bar: ProgressBar, args: argparse.Namespace) -> int:
    """Upload, follow, download, and delete when asked."""
    source: Path = args.image
    if not source.is_file():
        print(f"error: {source} is not a file", file=sys.stderr)
        return USAGE
    fields = {
        k: str(v)
        for k, v in {
            "model": args.model,
            "scale": args.scale,
            "output_format": args.format,
            "quality": args.quality,
            "face_enhance": "true" if args.face_enhance else None,
            "webhook_url": args.webhook_url,
        }.items()
        if v is not None
    }
    job = api.upload(source, fields)
    job_id, token = job["id"], job["token"]
    bar.message(f"job {job_id} accepted; token {token}")
    bar.message(f"everything about it is deleted automatically at {job['expires_at']}")

    def on_mode(mode: str) -> None:
        if mode == "polling":
            bar.message("the event stream failed: polling the status instead")

    follower = Follower(api, job_id, token, bar.update, on_mode=on_mode)
    try:
        final = follower.run()
    except KeyboardInterrupt:
        bar.message(f"the job goes on: python -m gateway.client status {job_id} --token {token}")
        raise
    except JobGone:
        bar.message(f"error: job {job_id} is gone (deleted or expired)")
        return GONE
    bar.close()
    status = FAILED
    if final["status"] == "succeeded":
        out = args.out or default_output(source, final)
        if out.resolve() == source.resolve():
            bar.message(f"error: {out} is the input; choose another --out")
            return USAGE
        size = api.download(job_id, token, out)
        result = final.get("result") or {}
        took = (final.get("report") or {}).get("resolved_model") or final["options"]["model"]
        bar.message(
            f"saved {out}: {result.get('width')}×{result.get('height')} "
            f"{str(result.get('format', '')).upper()}, {size} bytes (model {took})"
        )
        print(out)
        status = 0
    else:
        error = final.get("error") or {}
        bar.message(f"job failed: {error.get('message')} ({error.get('code')})")
    if args.delete_after:
        receipt = api.delete(job_id, token)
        bar.message(
            f"deleted {len(receipt['objects_deleted'])} objects at {receipt['deleted_at']}; "
            f"audit record {receipt['audit_record_sha256']}"
        )
        print_json(receipt)
    else:
        left = final.get("expires_at")
        bar.message(f"to delete it now: python -m gateway.client delete {job_id} --token {token}")
        if left:
            bar.message(f"(or wait: it is deleted at {left})")
    return status


def default_output(source: Path, final: dict[str, Any]) -> Path:
    """``photo.jpg`` upscaled 4x to PNG is ``photo_x4.png``, beside the original."""
    options = final.get("options") or {}
    fmt = (final.get("result") or {}).get("format") or options.get("output_format") or "png"
    return source.with_name(f"{source.stem}_x{options.get('scale', 'n')}.{EXTENSIONS[fmt]}")


def print_json(doc: dict[str, Any]) -> None:
    """A JSON document on stdout."""
    print(json.dumps(doc, indent=2, ensure_ascii=False))


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(
        prog="python -m gateway.client", description="Upscale images with a PicUpscaler service."
    )
    top.add_argument(
        "--url",
        default=os.environ.get("PICUPSCALER_URL", DEFAULT_URL),
        help=f"the service (default: $PICUPSCALER_URL or {DEFAULT_URL})",
    )
    # --url may also follow the command (``upscale photo.jpg --url ...``).
    url = argparse.ArgumentParser(add_help=False)
    url.add_argument("--url", default=argparse.SUPPRESS, help="the service")
    commands = top.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "upscale", parents=[url], help="upload an image, follow the job, download"
    )
    up.add_argument("image", type=Path)
    up.add_argument("--model", help="a model name, or auto (default: the service's)")
    up.add_argument("--scale", type=int, help="the enlargement (default: the model's)")
    up.add_argument("--format", choices=["png", "jpeg", "jpg", "webp"], help="default png")
    up.add_argument("--quality", type=int, help="JPEG/WebP quality 1-100")
    up.add_argument("--face-enhance", action="store_true", help="restore faces (if offered)")
    up.add_argument("--webhook-url", help="https URL told when the job ends (signed POST)")
    up.add_argument("--out", type=Path, help="where to write the result (default: NAME_xS.EXT)")
    up.add_argument("--delete-after", action="store_true", help="delete the job once downloaded")
    for name, words in (("status", "show a job's status"), ("delete", "delete a job now")):
        command = commands.add_parser(name, parents=[url], help=words)
        command.add_argument("id")
        command.add_argument("--token", help="the job's token (default: $PICUPSCALER_TOKEN)")
    return top


if __name__ == "__main__":
    sys.exit(main())
