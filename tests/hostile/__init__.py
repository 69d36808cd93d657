"""Hostile input: a corpus of crafted files and requests, and what the service does with them."""
