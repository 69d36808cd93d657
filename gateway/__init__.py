"""The HTTP gateway: accepts uploads, enqueues jobs, serves status and results.

It never imports torch; a test keeps it that way.
"""
