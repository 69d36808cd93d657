"""Code used by two or more PicUpscaler services: settings, logging, storage, broker, schemas.

Nothing in this package imports torch: the gateway and janitor depend on it.
"""
