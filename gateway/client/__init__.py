"""A small command-line client of the HTTP API: ``python -m gateway.client upscale photo.jpg``.

It talks HTTP only (httpx; install the ``client`` extra) and imports nothing of the server:
uploading, following the job's event stream (polling when the stream fails), downloading the
result, and deleting the job with its receipt. See docs/client.md.
"""
