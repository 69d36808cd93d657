"""deploy/k8s/README.md and base/secrets.example.yaml say what the manifests do: every Secret
and key the overlays read, every component and overlay, and the MinIO policies as granted."""

from __future__ import annotations

import json
import re

import yaml

from tests.deploy.k8s_render import K8S, PROD_OVERLAYS, render, secret_refs

README = K8S / "README.md"


def readme_table(first_header: str) -> list[list[str]]:
    """Rows (cells stripped) of the README table whose first header cell is ``first_header``."""
    rows: list[list[str]] = []
    inside = False
    for line in README.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.strip().startswith("|") and cells[0] == first_header:
            inside = True
            continue
        if inside:
            if not line.strip().startswith("|"):
                break
            if not set(cells[0]) <= set("-: "):
                rows.append(cells)
    assert rows, f"no table headed {first_header!r}"
    return rows


def test_readme_lists_every_secret_and_key_the_production_overlays_read(kubectl: str) -> None:
    used: set[tuple[str, str]] = set()
    for overlay in PROD_OVERLAYS:
        used |= secret_refs(render(kubectl, overlay))
    listed = {
        (row[0].strip("`"), key)
        for row in readme_table("Secret")
        for key in re.findall(r"`([^`]+)`", row[1])
    }
    assert used == listed, f"read but not listed: {used - listed}; listed, unused: {listed - used}"
    example = [
        d for d in yaml.safe_load_all((K8S / "base" / "secrets.example.yaml").read_text()) if d
    ]
    in_example = {(d["metadata"]["name"], k) for d in example for k in d["stringData"]}
    written_by_cert_manager = {("picupscaler-tls", "tls.crt"), ("picupscaler-tls", "tls.key")}
    assert in_example == used - written_by_cert_manager
    assert all(d["metadata"]["namespace"] == "picupscaler" for d in example)


def test_secrets_example_validates(kubernetes_validate: object) -> None:
    for obj in yaml.safe_load_all((K8S / "base" / "secrets.example.yaml").read_text()):
        if obj:
            kubernetes_validate.validate(obj, "1.37.0", strict=True)  # type: ignore[attr-defined]


def test_readme_names_every_component_and_overlay() -> None:
    text = README.read_text()
    for folder in ("components", "overlays"):
        for path in (K8S / folder).iterdir():
            assert f"`{folder}/{path.name}/`" in text, f"{folder}/{path.name} is not described"


ARN = "arn:aws:s3:::"
#: Bucket-level actions a service may hold; everything else on a bucket is for admins only.
BUCKET_ACTIONS = {
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "GetBucketObjectLockConfiguration",
    "PutLifecycleConfiguration",
}
ANCHORS = "picupscaler-audit-anchors"


def policy_grants(service: str) -> dict[tuple[str, str | None], set[str]]:
    """(resource without ``arn:aws:s3:::``, required ``s3:prefix`` or None) → actions (without
    ``s3:``) of one MinIO policy."""
    doc = json.loads((K8S / "minio-policies" / f"{service}.json").read_text())
    found: dict[tuple[str, str | None], set[str]] = {}
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in "".join(statement["Action"]), "no wildcard actions"
        condition = statement.get("Condition")
        prefix = None
        if condition is not None:
            (prefix,) = condition["StringLike"]["s3:prefix"]
            assert set(condition) == {"StringLike"}
        for resource in statement["Resource"]:
            assert resource.startswith(ARN)
            found.setdefault((resource.removeprefix(ARN), prefix), set()).update(
                a.removeprefix("s3:") for a in statement["Action"]
            )
    return found


def test_readme_policy_table_matches_the_policy_files() -> None:
    rows = readme_table("Policy")
    listed: dict[str, dict[tuple[str, str | None], set[str]]] = {}
    for service, resources, actions, why in rows:
        assert why, f"{service} {resources}: say what it is for"
        condition = re.search(r"\(prefix `([^`]+)` only\)", resources)
        prefix = condition.group(1) if condition else None
        names = re.findall(r"`([^`]+)`", re.sub(r"\(.*?\)", "", resources))
        assert names, resources
        for name in names:
            key = (name, prefix)
            assert key not in listed.setdefault(service, {}), f"{service} {name} listed twice"
            listed[service][key] = {a.strip() for a in actions.split(",")}
    assert set(listed) == {"gateway", "worker", "janitor"}
    for service, grants in listed.items():
        assert grants == policy_grants(service), service


def test_minio_policies_are_least_privilege() -> None:
    grants = {s: policy_grants(s) for s in ("gateway", "worker", "janitor")}
    for service, policy in grants.items():
        # Audit chains: each writer appends to its own chains only; only the janitor reads,
        # and deletes (compaction) only segments.
        audit = {r: a for (r, _), a in policy.items() if r.startswith("picupscaler-audit/audit/")}
        if service == "janitor":
            assert audit == {
                "picupscaler-audit/audit/*": {"PutObject", "GetObject"},
                "picupscaler-audit/audit/chains/*": {"DeleteObject"},
            }
        else:
            assert audit == {f"picupscaler-audit/audit/chains/{service}-*": {"PutObject"}}
        # Anchors: nobody deletes, bypasses a retention or changes the lock; each writes its
        # own statements only; only the janitor reads.
        anchors = {r: a for (r, _), a in policy.items() if r.startswith(ANCHORS)}
        for resource in (f"{ANCHORS}/registry/{service}-*", f"{ANCHORS}/anchors/{service}-*"):
            assert anchors.pop(resource) == {"PutObject", "PutObjectRetention"}, service
        reads = anchors.pop(f"{ANCHORS}/*", set())
        bucket = anchors.pop(ANCHORS)
        assert not anchors, f"{service}: more anchor resources than its own {anchors}"
        if service == "janitor":
            assert reads == {"GetObject", "GetObjectVersion", "GetObjectRetention"}
            assert bucket == {
                "ListBucket",
                "ListBucketVersions",
                "GetBucketObjectLockConfiguration",
            }
        else:
            assert not reads
            assert bucket == {"ListBucket", "GetBucketObjectLockConfiguration"}
        everything = set().union(*policy.values())
        # Nobody may create or delete buckets, or change their policy, versioning or locks.
        on_buckets = {a for a in everything if "Bucket" in a or "Lifecycle" in a}
        assert on_buckets <= BUCKET_ACTIONS, on_buckets - BUCKET_ACTIONS
        assert not {
            a
            for a in everything
            if "Legal" in a or "Bypass" in a or "Delete" in a and "Version" in a
        }
        # Retention only on the anchors.
        for (resource, _), actions in policy.items():
            if any("Retention" in a for a in actions):
                assert resource.startswith(ANCHORS), (service, resource)
    assert "PutLifecycleConfiguration" not in set().union(
        *grants["gateway"].values(), *grants["worker"].values()
    )
