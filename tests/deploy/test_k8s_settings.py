"""What the manifests put in the services' environment is what the services read.

The settings classes ignore unknown variables (``extra="ignore"``), so a misspelt or removed
variable in a manifest does nothing, silently: ``GATEWAY_RATE_LIMIT_PER_MINUTE`` would leave the
admission limits at their defaults. Here every variable a rendered container gets must be a
name its service's settings class reads (pydantic-settings: its prefix plus a field name, and
each nested settings group with its own prefix), or a library variable named below. The audit
log's wiring is checked too: every writer signs with its own key from its own Secret, the
janitor verifies with every service's public key, and the dev overlay's keys pair up.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from tests.deploy.k8s_render import (
    K8S,
    OVERLAYS,
    ROOT,
    Obj,
    of_kind,
    pod_specs,
    readme_block,
    render,
    render_with,
)

#: Variables our containers set for libraries, not for a settings class, and why.
LIBRARY_VARIABLES = {
    # The image's user has no home directory; Python and torch look for caches there.
    "HOME": {"worker"},
    "XDG_CACHE_HOME": {"worker"},
    "TORCH_HOME": {"worker"},
    # torch's thread pool, matched to the CPU limit instead of the node's cores.
    "OMP_NUM_THREADS": {"worker"},
    # components/gpu: the NVIDIA container runtime's capabilities and CUDA's JIT cache.
    "NVIDIA_DRIVER_CAPABILITIES": {"worker"},
    "CUDA_CACHE_PATH": {"worker"},
}
#: Variables the services no longer read (or read only as an old spelling), and what replaced
#: them: nothing under deploy/ may set or recommend them.
REMOVED = {
    "GATEWAY_RATE_LIMIT_PER_MINUTE": "ADMISSION_UPLOADS_PER_MINUTE",
    "GATEWAY_TRUST_FORWARDED_FOR": "GATEWAY_TRUSTED_PROXY_HOPS",
    "WORKER_MODEL_DIR": "MODEL_DIR",
    "GATEWAY_MODEL_DIR": "MODEL_DIR",
    "JANITOR_VERIFY_AUDIT_EVERY": "JANITOR_AUDIT_INTERVAL_SECONDS",
    "GATEWAY_ANALYTICS_FLUSH_SECONDS": "ANALYTICS_FLUSH_SECONDS",
}
WRITERS = ("gateway", "worker", "janitor")


def settings_classes() -> dict[str, type[BaseSettings]]:
    """Each Deployment's settings class."""
    from gateway.settings import GatewaySettings
    from janitor.settings import JanitorSettings
    from shared.ops_metrics import QueueExporterSettings
    from worker.settings import WorkerSettings

    return {
        "gateway": GatewaySettings,
        "worker": WorkerSettings,
        "janitor": JanitorSettings,
        "queue-exporter": QueueExporterSettings,
    }


def accepted_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables ``cls`` reads: its prefix plus each field's name (or alias),
    and for each field that is itself a settings group (built by its default factory, so it
    reads the environment with its own prefix) that group's names."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        names.add((prefix + (field.alias or name)).upper())
        if isinstance(field.validation_alias, str):
            names.add(field.validation_alias.upper())
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names |= accepted_names(annotation)
    return names


def test_accepted_names_follow_pydantic_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name builder agrees with pydantic-settings itself on a nested group and a field."""
    from gateway.settings import GatewaySettings

    names = accepted_names(GatewaySettings)
    assert {"GATEWAY_TRUSTED_PROXY_HOPS", "ADMISSION_REDIS_URL", "AUDIT_SIGNING_KEYS"} <= names
    assert {"BROKER_EVENTS_EXCHANGE", "MODEL_DIR", "ANALYTICS_FLUSH_SECONDS"} <= names
    assert "GATEWAY_RATE_LIMIT_PER_MINUTE" not in names
    monkeypatch.setenv("ADMISSION_UPLOADS_PER_MINUTE", "7")
    monkeypatch.setenv("BROKER_EVENTS_EXCHANGE", "x.events")
    settings = GatewaySettings()
    assert settings.admission.uploads_per_minute == 7
    assert settings.broker.events_exchange == "x.events"


def container_sources(objs: list[Obj], deployment: str) -> tuple[dict[str, str], dict[str, str]]:
    """(variables from envFrom ConfigMaps → ConfigMap, variables of the container's own env →
    where the value comes from) for a Deployment's container."""
    configmaps = of_kind(objs, "ConfigMap")
    (container,) = pod_specs(objs)[deployment]["containers"]
    shared: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        shared.update(dict.fromkeys(configmaps[name]["data"], name))
    own: dict[str, str] = {}
    for var in container.get("env", []):
        origin = next(iter(var.get("valueFrom", {"value": None})))
        own[var["name"]] = origin
    return shared, own


def rendered_variants(kubectl: str, tmp_path: Path) -> dict[str, list[Obj]]:
    """The three overlays, and prod with each component that is in no overlay."""
    variants = {overlay: render(kubectl, overlay) for overlay in OVERLAYS}
    for component in ("operator-models", "webhooks"):
        variants[f"prod+{component}"] = render_with(kubectl, tmp_path, [component])
    return variants


def test_every_variable_a_manifest_sets_is_read_by_its_service(
    kubectl: str, tmp_path: Path
) -> None:
    classes = settings_classes()
    accepted = {name: accepted_names(cls) for name, cls in classes.items()}
    for variant, objs in rendered_variants(kubectl, tmp_path).items():
        readers_of: dict[str, set[str]] = {}
        shared_vars: dict[str, str] = {}
        for service in classes:
            shared, own = container_sources(objs, service)
            for var, configmap in shared.items():
                readers_of.setdefault(configmap, set()).add(service)
                shared_vars[var] = configmap
            for var in own:
                where = f"{variant}: {service} sets {var}"
                if var in LIBRARY_VARIABLES:
                    assert service in LIBRARY_VARIABLES[var], where
                else:
                    assert var in accepted[service], f"{where}, which it does not read"
        # A shared ConfigMap's variable must be read by at least one service that loads it.
        for var, configmap in shared_vars.items():
            readers = {s for s in readers_of[configmap] if var in accepted[s]}
            assert readers, f"{variant}: {var} in {configmap} is read by no service loading it"


def test_no_removed_variable_is_set_or_recommended() -> None:
    """Not in any deployment file, nor in the operators' documents."""
    files = [p for p in (ROOT / "deploy").rglob("*") if p.is_file()]
    files += [ROOT / "docs" / "operations.md"]
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for old, new in REMOVED.items():
            assert old not in text, f"{path.relative_to(ROOT)} names {old} (now {new})"


def env_var(objs: list[Obj], deployment: str, name: str) -> dict[str, Any] | None:
    """The container's ``env`` entry ``name``, or None."""
    (container,) = pod_specs(objs)[deployment]["containers"]
    return next((v for v in container.get("env", []) if v["name"] == name), None)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_audit_log_wiring(kubectl: str, overlay: str) -> None:
    """Each writer signs with its own key from its own Secret, never a generated file; the
    janitor verifies with the public keys from a ConfigMap; the anchors' bucket is named."""
    from tests.deploy.k8s_render import container_env

    objs = render(kubectl, overlay)
    for service in WRITERS:
        var = env_var(objs, service, "AUDIT_SIGNING_KEYS")
        assert var is not None, f"{service} has no audit signing key"
        ref = var["valueFrom"]["secretKeyRef"]
        assert ref["name"].startswith(f"picupscaler-{service}") and "optional" not in ref
        env = container_env(objs, service)
        assert env["AUDIT_GENERATE_LOCAL_SIGNING_KEY"] == "false"
        assert env["AUDIT_ANCHOR"] == "s3" and env["AUDIT_REQUIRE_ANCHOR_LOCK"] == "true"
        assert env["AUDIT_ANCHOR_BUCKET"] == f"{env['STORAGE_AUDIT_BUCKET']}-anchors"
        assert int(env["AUDIT_ANCHOR_LOCK_DAYS"] or 0) > int(env["AUDIT_RETENTION_DAYS"] or 0)
        if service != "janitor":
            assert env_var(objs, service, "AUDIT_VERIFY_KEYS") is None  # they do not verify
    assert env_var(objs, "queue-exporter", "AUDIT_SIGNING_KEYS") is None
    verify = env_var(objs, "janitor", "AUDIT_VERIFY_KEYS")
    assert verify is not None
    ref = verify["valueFrom"]["configMapKeyRef"]
    assert ref["name"].startswith("picupscaler-audit-verify-keys-")  # generated: rolls the janitor
    assert ref["key"] in of_kind(objs, "ConfigMap")[ref["name"]]["data"]


def test_dev_audit_keys_pair_up(kubectl: str) -> None:
    """The dev janitor accepts exactly the public halves of the three dev signing keys."""
    from shared.audit.settings import AuditSettings
    from shared.audit.signing import SigningKeys, VerifyKeys

    objs = render(kubectl, "dev")
    secrets = {name.rsplit("-", 1)[0]: s for name, s in of_kind(objs, "Secret").items()}
    public: set[str] = set()
    for service in WRITERS:
        line = base64.b64decode(secrets[f"picupscaler-{service}"]["data"]["AUDIT_SIGNING_KEYS"])
        signer = SigningKeys.from_settings(AuditSettings(signing_keys=line.decode()))
        assert signer is not None and signer.active.startswith(f"dev-{service}")
        public |= set(VerifyKeys(signer.public_keys()).lines())
    ref = env_var(objs, "janitor", "AUDIT_VERIFY_KEYS")["valueFrom"]["configMapKeyRef"]  # type: ignore[index]
    listed = of_kind(objs, "ConfigMap")[ref["name"]]["data"][ref["key"]]
    verify = VerifyKeys.from_settings(AuditSettings(verify_keys=listed))
    assert set(verify.lines()) == public


@pytest.mark.parametrize("overlay", ["prod", "prod-ingress"])
def test_production_janitor_refuses_the_placeholder_verify_keys(kubectl: str, overlay: str) -> None:
    """Until the operator puts the real public keys in base/audit-verify-keys.env, the janitor
    stops at start-up with a message naming the placeholder (not a silent "unknown key")."""
    from shared.audit.settings import AuditSettings
    from shared.audit.signing import VerifyKeys

    objs = render(kubectl, overlay)
    ref = env_var(objs, "janitor", "AUDIT_VERIFY_KEYS")["valueFrom"]["configMapKeyRef"]  # type: ignore[index]
    value = of_kind(objs, "ConfigMap")[ref["name"]]["data"][ref["key"]]
    with pytest.raises(ValueError, match="REPLACE_ME"):
        VerifyKeys.from_settings(AuditSettings(verify_keys=value))


def test_dev_bucket_job_creates_the_anchors_bucket_with_object_lock(kubectl: str) -> None:
    from tests.deploy.k8s_render import container_env

    objs = render(kubectl, "dev")
    (container,) = of_kind(objs, "Job")["minio-buckets"]["spec"]["template"]["spec"]["containers"]
    script = container["args"][0]
    env = container_env(objs, "janitor")
    anchors = env["AUDIT_ANCHOR_BUCKET"]
    assert f"mc mb --ignore-existing --with-lock dev/{anchors}\n" in script
    # The jobs and audit buckets: never versioned or locked (deletes must really delete).
    for bucket in (env["STORAGE_JOBS_BUCKET"], env["STORAGE_AUDIT_BUCKET"]):
        assert f"mc mb --ignore-existing dev/{bucket}\n" in script


def test_readme_audit_key_commands_make_keys_that_pair_up(tmp_path: Path) -> None:
    """deploy/k8s/README.md step 5, run as written, with ``docker run IMAGE python`` played by
    this interpreter: three signing keys for the Secrets, and their public halves written into
    (a copy of) base/audit-verify-keys.env, which the janitor then accepts."""
    import sys

    from shared.audit.settings import AuditSettings
    from shared.audit.signing import SigningKeys, VerifyKeys

    env_file = tmp_path / "deploy" / "k8s" / "base" / "audit-verify-keys.env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text((K8S / "base" / "audit-verify-keys.env").read_text())
    script = (
        'docker() { shift 4; "$PYTHON" "$@"; }\n'  # run --rm IMAGE python
        + readme_block("audit-keygen")
        + 'printf "%s\\n" "$audit_gateway" "$audit_worker" "$audit_janitor"\n'
    )
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    secrets = run.stdout.split()
    assert len(secrets) == 3
    public: set[str] = set()
    for service, line in zip(WRITERS, secrets, strict=True):
        signer = SigningKeys.from_settings(AuditSettings(signing_keys=line))
        assert signer is not None and signer.active.startswith(f"{service}-")
        public |= set(VerifyKeys(signer.public_keys()).lines())
    (value,) = [
        line.split("=", 1)[1]
        for line in env_file.read_text().splitlines()
        if line.startswith("AUDIT_VERIFY_KEYS=")
    ]
    assert set(VerifyKeys.from_settings(AuditSettings(verify_keys=value)).lines()) == public


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_stale_verification_alert_follows_the_janitor_interval(kubectl: str, overlay: str) -> None:
    """PicUpscalerAuditVerificationStale fires after 3 maintenance intervals without one."""
    from tests.deploy.k8s_render import container_env
    from tests.deploy.promql import alert_rules

    (rule,) = [r for r in alert_rules() if r["alert"] == "PicUpscalerAuditVerificationStale"]
    threshold = float(rule["expr"].rsplit(">", 1)[1])
    interval = float(
        container_env(render(kubectl, overlay), "janitor")["JANITOR_AUDIT_INTERVAL_SECONDS"] or 0
    )
    assert threshold == 3 * interval
