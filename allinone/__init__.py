"""All-in-one mode: gateway, an in-process worker and the janitor in one process.

Storage is a local directory and the broker is Dramatiq's in-process queue; the code paths are
those of the distributed services, with other adapters chosen by configuration.
"""
