"""The privacy export use case: everything held about the jobs whose tokens are presented.

Plain and synchronous (the route runs it in the thread pool): one manifest read per token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.tokens import job_id_of_token
from shared import lifecycle
from shared.crypto import KeyRing
from shared.errors import ManifestInvalid
from shared.manifest import report_tampering, token_matches
from shared.states import JobStatus
from shared.storage import ObjectStore

NOTE = (
    "Job tokens are stored only as SHA-256 hashes; data keys are not exported. "
    "Images are downloadable from each job's result link until the job expires."
)


def export_jobs(
    *, store: ObjectStore, keyring: KeyRing, tokens: list[str], now: datetime
) -> dict[str, Any]:
    """The export document for ``tokens``: each live job they open, and how many opened none.

    A token of a deleted, expired, unknown or altered (seal broken, counted as tampering) job
    counts as not matching: the answer never says which. Raises StorageUnavailable.
    """
    jobs: list[dict[str, Any]] = []
    unknown = 0
    for token in tokens:
        job_id = job_id_of_token(token)
        try:
            tracked = lifecycle.read(store, job_id) if job_id else None
        except ManifestInvalid:
            tracked = None
        manifest = tracked.manifest if tracked is not None else None
        if (
            manifest is None
            or manifest.status is JobStatus.DELETED
            or not token_matches(manifest, token)
            or manifest.expires_at <= now
        ):
            unknown += 1
            continue
        if not manifest.seal_holds(keyring):
            report_tampering(manifest.id, "gateway")
            unknown += 1
            continue
        record = manifest.model_dump(mode="json", exclude={"token_sha256", "data_key", "deletion"})
        record["links"] = {
            "status": f"/v1/jobs/{manifest.id}",
            "result": f"/v1/jobs/{manifest.id}/result",
        }
        jobs.append(record)
    return {
        "generated_at": now.isoformat(),
        "jobs": jobs,
        "tokens_not_matching_a_job": unknown,
        "note": NOTE,
    }
