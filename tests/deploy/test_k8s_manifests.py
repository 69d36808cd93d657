"""The Kubernetes manifests (deploy/k8s): every overlay renders, validates against the
Kubernetes schemas, and keeps the security and privacy properties the deployment promises.

Needs ``kubectl`` (for ``kubectl kustomize``) and the ``kubernetes-validate`` package. Locally a
missing one skips these tests; under CI=true it fails them, as for RabbitMQ.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "prod"]
# The newest schemas the validator ships, and an older cluster still in wide use.
KUBERNETES_VERSIONS = ["1.37.0", "1.29.0"]
SERVICES = {"gateway", "worker", "janitor"}


@pytest.fixture(scope="module")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        skip_or_fail("kubectl is not installed (apt-get install kubectl)")
    return str(path)


@pytest.fixture(scope="module")
def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        skip_or_fail("kubernetes-validate is not installed (pip install kubernetes-validate)")
    return kubernetes_validate


_RENDERED: dict[str, list[dict[str, Any]]] = {}


def render(kubectl: str, overlay: str) -> list[dict[str, Any]]:
    """Return the objects ``kubectl kustomize`` renders for ``overlay`` (cached per run)."""
    if overlay not in _RENDERED:
        out = subprocess.run(
            [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        _RENDERED[overlay] = [d for d in yaml.safe_load_all(out) if d]
    return _RENDERED[overlay]


def of_kind(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def pod_specs(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: d["spec"]["template"]["spec"] for name, d in of_kind(objs, "Deployment").items()}


def container_env(objs: list[dict[str, Any]], deployment: str) -> dict[str, str | None]:
    """The environment of ``deployment``'s container: its ConfigMaps, then its own ``env``.

    Values that come from a Secret or the downward API are ``None``.
    """
    configmaps = of_kind(objs, "ConfigMap")
    (container,) = pod_specs(objs)[deployment]["containers"]
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update(configmaps[ref]["data"])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value") if "valueFrom" not in var else None
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlay_validates_against_kubernetes_schemas(
    kubectl: str, kubernetes_validate: Any, overlay: str, version: str
) -> None:
    objs = render(kubectl, overlay)
    assert objs, f"{overlay} rendered nothing"
    for obj in objs:
        # strict: an unknown (misspelt) field is an error, not silently dropped.
        kubernetes_validate.validate(obj, version, strict=True)


def test_secrets_example_validates_and_is_not_rendered(
    kubectl: str, kubernetes_validate: Any
) -> None:
    example = [
        d for d in yaml.safe_load_all((K8S / "base" / "secrets.example.yaml").read_text()) if d
    ]
    names = {d["metadata"]["name"] for d in example}
    assert names == {f"picupscaler-{s}" for s in SERVICES} | {"picupscaler-crypto"}
    for obj in example:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[0], strict=True)
    for overlay in OVERLAYS:
        assert not of_kind(render(kubectl, overlay), "Secret"), "secrets must not be rendered"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down(kubectl: str, overlay: str) -> None:
    specs = pod_specs(render(kubectl, overlay))
    assert set(specs) == SERVICES
    for name, spec in specs.items():
        pod_sc = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, name
        assert spec.get("enableServiceLinks") is False, name
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c.get("securityContext", {})

            def effective(
                key: str, sc: dict[str, Any] = sc, pod_sc: dict[str, Any] = pod_sc
            ) -> Any:
                return sc.get(key, pod_sc.get(key))

            where = f"{overlay}/{name}/{c['name']}"
            assert effective("runAsNonRoot") is True, where
            assert effective("runAsUser") == 10001, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("privileged", False) is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("capabilities", {}).get("add"), where
            assert effective("seccompProfile") == {"type": "RuntimeDefault"}, where
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resources.get(kind, {}).get(resource), f"{where}: {kind}.{resource}"
        # No host access of any kind.
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_accounts_mount_no_token(kubectl: str, overlay: str) -> None:
    objs = render(kubectl, overlay)
    accounts = of_kind(objs, "ServiceAccount")
    assert set(accounts) == SERVICES
    assert all(a.get("automountServiceAccountToken") is False for a in accounts.values())
    for name, spec in pod_specs(objs).items():
        assert spec["serviceAccountName"] == name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_metrics_and_grace_periods(kubectl: str, overlay: str) -> None:
    objs = render(kubectl, overlay)
    deployments = of_kind(objs, "Deployment")
    ports = {"gateway": 8000, "worker": 9100, "janitor": 9101}
    for name, deployment in deployments.items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(ports[name]), name
    (gateway,) = deployments["gateway"]["spec"]["template"]["spec"]["containers"]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    worker = deployments["worker"]["spec"]["template"]["spec"]
    grace = int(container_env(objs, "worker")["WORKER_SHUTDOWN_GRACE_SECONDS"] or 60)
    assert worker["terminationGracePeriodSeconds"] >= grace + 15
    mounts = {m["mountPath"] for m in worker["containers"][0]["volumeMounts"]}
    assert container_env(objs, "worker")["WORKER_MODEL_CACHE_DIR"] in mounts
    # The gateway keeps images in memory only: it gets no writable volume at all.
    assert not deployments["gateway"]["spec"]["template"]["spec"].get("volumes")
    # Any scratch space the worker has is memory-backed, never the node's disk.
    tmp = {v["name"]: v for v in worker["volumes"]}["tmp"]
    assert tmp["emptyDir"]["medium"] == "Memory"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_load_from_the_rendered_environment(
    kubectl: str, overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every variable is one the services know, and the real settings classes accept them."""
    from gateway.settings import GatewaySettings
    from janitor.settings import JanitorSettings
    from shared.settings import BrokerSettings, JobSettings, LogSettings, StorageSettings
    from worker.settings import WorkerSettings

    groups = {
        "STORAGE_": StorageSettings,
        "BROKER_": BrokerSettings,
        "JOBS_": JobSettings,
        "LOG_": LogSettings,
        "GATEWAY_": GatewaySettings,
        "WORKER_": WorkerSettings,
        "JANITOR_": JanitorSettings,
    }
    classes = {"gateway": GatewaySettings, "worker": WorkerSettings, "janitor": JanitorSettings}
    objs = render(kubectl, overlay)
    for name, cls in classes.items():
        env = container_env(objs, name)
        for var in env:
            for prefix, group in groups.items():
                if var.startswith(prefix):
                    field = var[len(prefix) :].lower()
                    assert field in group.model_fields, f"{name}: unknown setting {var}"
        for var in list(os.environ):
            if var.startswith(tuple(groups)):
                monkeypatch.delenv(var)
        for var, value in env.items():
            monkeypatch.setenv(var, value if value is not None else "from-a-secret")
        settings = cls()
        assert settings.storage.backend == "s3"
        assert settings.storage.create_buckets is False
        assert settings.storage.secure is True
        assert settings.log.format == "json"
        if name != "janitor":
            assert settings.broker.backend == "rabbitmq"  # type: ignore[attr-defined]
            assert env["BROKER_URL"] is None, "the broker URL must come from a Secret"
        assert env["STORAGE_ACCESS_KEY"] is None and env["STORAGE_SECRET_KEY"] is None
        if name == "gateway":
            assert settings.host == "0.0.0.0"  # type: ignore[attr-defined]
            assert settings.port == 8000  # type: ignore[attr-defined]
            assert settings.trust_forwarded_for is True  # type: ignore[attr-defined]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_never_creates_buckets(kubectl: str, overlay: str) -> None:
    objs = render(kubectl, overlay)
    env = container_env(objs, "gateway")
    assert env.get("STORAGE_CREATE_BUCKETS", "").lower() not in ("true", "1", "yes", "on")
    for cm in of_kind(objs, "ConfigMap").values():
        value = str(cm.get("data", {}).get("STORAGE_CREATE_BUCKETS", "false")).lower()
        assert value not in ("true", "1", "yes", "on")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_credentials(kubectl: str, overlay: str) -> None:
    objs = render(kubectl, overlay)
    for name, spec in pod_specs(objs).items():
        (container,) = spec["containers"]
        refs = {
            v["valueFrom"]["secretKeyRef"]["name"]
            for v in container.get("env", [])
            if "secretKeyRef" in v.get("valueFrom", {})
        }
        # Own credentials, plus the shared service keys for the two that touch image bytes.
        shared = {"picupscaler-crypto"} if name in ("gateway", "worker") else set()
        assert refs == {f"picupscaler-{name}"} | shared, name
        assert all("secretRef" not in s for s in container.get("envFrom", [])), name
    janitor_vars = {v["name"] for v in pod_specs(objs)["janitor"]["containers"][0]["env"]}
    assert "BROKER_URL" not in janitor_vars


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies(kubectl: str, overlay: str) -> None:
    policies = of_kind(render(kubectl, overlay), "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny

    def egress_ports(component: str) -> set[int]:
        ports: set[int] = set()
        for policy in policies.values():
            selector = policy["spec"]["podSelector"]
            labels = selector.get("matchLabels", {})
            values = [
                v
                for e in selector.get("matchExpressions", [])
                if e["key"] == "app.kubernetes.io/component"
                for v in e["values"]
            ]
            if labels.get("app.kubernetes.io/component") == component or component in values:
                for rule in policy["spec"].get("egress", []):
                    ports |= {p["port"] for p in rule.get("ports", [])}
        return ports

    assert egress_ports("janitor") == {9000}, "the janitor talks to MinIO only"
    assert {5671, 9000} <= egress_ports("worker")
    assert {5671, 9000} <= egress_ports("gateway")
    (rule,) = policies["gateway"]["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [8000]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }


def test_prod_overlay(kubectl: str, tmp_path: Path) -> None:
    objs = render(kubectl, "prod")
    deployments = of_kind(objs, "Deployment")
    # GPU component: one GPU per worker, tolerating the GPU taint, CUDA selected.
    worker = deployments["worker"]["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" for t in worker["tolerations"])
    assert container_env(objs, "worker")["WORKER_DEVICE"] == "cuda"
    # Gateway: the HPA owns the replica count, never below three.
    hpa = of_kind(objs, "HorizontalPodAutoscaler")["gateway"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "gateway" and hpa["minReplicas"] >= 3
    assert "replicas" not in deployments["gateway"]["spec"]
    assert "gateway" in of_kind(objs, "PodDisruptionBudget")
    # Ingress: TLS, a body limit just above the upload limit, no spooling to the ingress disk.
    ingress = of_kind(objs, "Ingress")["gateway"]
    annotations = ingress["metadata"]["annotations"]
    assert ingress["spec"]["tls"][0]["secretName"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "26m"
    upload_limit = int(container_env(objs, "gateway")["JOBS_MAX_UPLOAD_BYTES"] or 0)
    assert upload_limit < 26 * 1024 * 1024
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-max-temp-file-size"] == "0"
    # Internal endpoints are not published.
    paths = {p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert not paths & {"/metrics", "/readyz", "/healthz", "/docs", "/openapi.json"}
    # ... and every public one is: each user-facing route of the app is reachable.
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    app = create_app(
        GatewaySettings(
            storage={"local_dir": tmp_path}, crypto={"local_key_file": tmp_path / "key"}
        )
    )
    api = {p for p in app.openapi()["paths"] if not p.startswith("/v1/analytics")}
    assert "/v1/privacy/export" in api and "/v1/jobs/{job_id}" in api
    public = {p for p in api if p.startswith("/v1/")} | {"/", "/privacy"}
    for path in public:
        assert any(
            path == p["path"] or (p["pathType"] == "Prefix" and path.startswith(p["path"] + "/"))
            for r in ingress["spec"]["rules"]
            for p in r["http"]["paths"]
        ), f"the ingress does not publish {path}"
    assert all(
        p["path"] != "/" or p["pathType"] == "Exact"
        for r in ingress["spec"]["rules"]
        for p in r["http"]["paths"]
    ), "a Prefix / would publish /metrics"


def test_dev_overlay(kubectl: str) -> None:
    objs = render(kubectl, "dev")
    deployments = of_kind(objs, "Deployment")
    assert {n: d["spec"]["replicas"] for n, d in deployments.items()} == dict.fromkeys(SERVICES, 1)
    (container,) = deployments["worker"]["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in json.dumps(container["resources"])
    assert container_env(objs, "worker")["WORKER_DEVICE"] == "cpu"
    assert not of_kind(objs, "Ingress")


def test_minio_policies_are_least_privilege() -> None:
    folder = K8S / "minio-policies"

    def actions(service: str) -> dict[str, set[str]]:
        """Map each resource to the actions ``service`` is allowed on it."""
        doc = json.loads((folder / f"{service}.json").read_text())
        out: dict[str, set[str]] = {}
        for statement in doc["Statement"]:
            assert statement["Effect"] == "Allow"
            assert "*" not in "".join(statement["Action"]), "no wildcard actions"
            for resource in statement["Resource"]:
                out.setdefault(resource, set()).update(statement["Action"])
        return out

    jobs, jobs_objects = "arn:aws:s3:::picupscaler-jobs", "arn:aws:s3:::picupscaler-jobs/jobs/*"
    audit, audit_objects = (
        "arn:aws:s3:::picupscaler-audit",
        "arn:aws:s3:::picupscaler-audit/audit/*",
    )
    analytics_objects = "arn:aws:s3:::picupscaler-audit/analytics/*"
    gateway = actions("gateway")
    assert {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"} <= gateway[jobs_objects]
    assert gateway[audit_objects] == {"s3:PutObject"}  # append-only: never reads or edits
    assert gateway[analytics_objects] == {"s3:PutObject", "s3:GetObject"}
    assert gateway[audit] == {"s3:ListBucket"}  # conditioned on the analytics/ prefix
    worker = actions("worker")
    # The worker deletes the images of a job that failed (and audits it): no other delete.
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= worker[jobs_objects]
    assert worker[audit_objects] == {"s3:PutObject"}
    assert worker[analytics_objects] == {"s3:PutObject"}
    assert audit not in worker
    janitor = actions("janitor")
    assert janitor[jobs_objects] == {"s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
    assert janitor[audit_objects] == {"s3:PutObject", "s3:GetObject"}
    assert janitor[audit] == {"s3:ListBucket"}
    # Only the janitor lists stale multipart uploads and sets the lifecycle backstop.
    assert janitor[jobs] == {
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:PutLifecycleConfiguration",
    }
    for policy in (gateway, worker):
        assert policy[jobs] == {"s3:ListBucket"}
    for policy in (gateway, worker, janitor):
        # Nobody may create or delete buckets, or change their policy or versioning.
        everything = set().union(*policy.values())
        allowed = {"s3:ListBucket", "s3:ListBucketMultipartUploads"}
        assert not {a for a in everything if "Bucket" in a and a not in allowed}


def test_operator_models_component(kubectl: str, tmp_path: Path) -> None:
    """The component mounts one read-only model volume into workers and gateways alike."""
    import os.path

    overlay = tmp_path / "overlay"
    overlay.mkdir()
    up = os.path.relpath(K8S, overlay)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{up}/overlays/prod]\ncomponents: [{up}/components/operator-models]\n"
    )
    out = subprocess.run(
        [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    objs = [d for d in yaml.safe_load_all(out) if d]
    claim = of_kind(objs, "PersistentVolumeClaim")["picupscaler-models"]
    assert claim["metadata"]["namespace"] == "picupscaler"
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    specs = pod_specs(objs)
    for name, variable in (("worker", "WORKER_MODEL_DIR"), ("gateway", "GATEWAY_MODEL_DIR")):
        (container,) = specs[name]["containers"]
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "models"]
        assert mount["readOnly"] is True
        (volume,) = [v for v in specs[name]["volumes"] if v["name"] == "models"]
        assert volume["persistentVolumeClaim"] == {
            "claimName": "picupscaler-models",
            "readOnly": True,
        }
        assert container_env(objs, name)[variable] == mount["mountPath"]
    assert "models" not in json.dumps(specs["janitor"])  # the janitor never needs them


@pytest.mark.parametrize(("overlay", "budget"), [("dev", "1024"), ("prod", "auto")])
def test_worker_tiles_come_from_a_memory_budget(kubectl: str, overlay: str, budget: str) -> None:
    """Tile size and batch follow the device's memory, not fixed numbers that fit one card."""
    env = container_env(render(kubectl, overlay), "worker")
    assert env["WORKER_TILE_MEMORY_MB"] == budget
    assert "WORKER_TILE_SIZE" not in env and "WORKER_TILE_BATCH" not in env
