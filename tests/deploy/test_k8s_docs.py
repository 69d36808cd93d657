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


def policy_actions(service: str) -> dict[str, set[str]]:
    """Resource → actions (without ``s3:``) of one MinIO policy."""
    doc = json.loads((K8S / "minio-policies" / f"{service}.json").read_text())
    found: dict[str, set[str]] = {}
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in "".join(statement["Action"]), "no wildcard actions"
        for resource in statement["Resource"]:
            found.setdefault(resource, set()).update(
                a.removeprefix("s3:") for a in statement["Action"]
            )
    return found


def test_readme_policy_table_matches_the_policy_files() -> None:
    columns = {
        1: "arn:aws:s3:::picupscaler-jobs/jobs/*",
        2: "arn:aws:s3:::picupscaler-jobs",
        3: "arn:aws:s3:::picupscaler-audit/audit/*",
        4: "arn:aws:s3:::picupscaler-audit/analytics/*",
        5: "arn:aws:s3:::picupscaler-audit",
    }
    rows = readme_table("Service")
    assert {row[0] for row in rows} == {"gateway", "worker", "janitor"}
    for row in rows:
        granted = policy_actions(row[0])
        for column, resource in columns.items():
            cell = re.sub(r"\(.*\)", "", row[column]).strip()
            listed = set() if cell == "none" else {a.strip() for a in cell.split(",")}
            assert listed == granted.get(resource, set()), (row[0], resource)


def test_minio_policies_are_least_privilege() -> None:
    gateway, worker, janitor = (policy_actions(s) for s in ("gateway", "worker", "janitor"))
    audit = "arn:aws:s3:::picupscaler-audit/audit/*"
    # Audit records are append-only for the services that write them; only the janitor reads.
    assert gateway[audit] == worker[audit] == {"PutObject"}
    assert janitor[audit] == {"PutObject", "GetObject"}
    for policy in (gateway, worker, janitor):
        # Nobody may create or delete buckets, or change their policy, versioning or locks.
        everything = set().union(*policy.values())
        allowed = {"ListBucket", "ListBucketMultipartUploads"}
        assert not {a for a in everything if "Bucket" in a and a not in allowed}
        assert not {a for a in everything if "Retention" in a or "Legal" in a}
