"""Helpers of the test suites, one module per concern.

``env`` (paths, services, the CI rule), ``net`` (ports, HTTP, multipart, a TCP proxy),
``processes`` (the services as OS processes), ``storage`` (S3 settings, keys, jobs put in storage
through the gateway's own use case), ``photos`` (real images, NIQE), ``models`` (a tiny-network
model provider), ``failpoints`` (holding a process at a named moment).
"""
