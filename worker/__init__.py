"""The GPU worker: a Dramatiq actor that runs Real-ESRGAN models on queued jobs."""
