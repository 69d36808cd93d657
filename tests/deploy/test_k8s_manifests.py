"""The Kubernetes manifests (deploy/k8s): every overlay renders, validates against the
Kubernetes schemas, puts every namespaced object in its namespace, resolves every reference,
and keeps the security properties the deployment promises.

Needs ``kubectl`` (for ``kubectl kustomize``) and the ``kubernetes-validate`` package. Locally a
missing one skips these tests; under CI=true it fails them, as for RabbitMQ.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.k8s_render import (
    CLUSTER_SCOPED,
    CRD_GROUPS,
    NAMESPACE,
    OVERLAYS,
    SERVICES,
    WORKLOADS,
    container_env,
    of_kind,
    pod_specs,
    render,
    render_with,
    selects,
)

# The newest schemas the validator ships, and an older cluster still in wide use.
KUBERNETES_VERSIONS = ["1.37.0", "1.29.0"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlay_validates_against_kubernetes_schemas(
    kubectl: str, kubernetes_validate: Any, overlay: str, version: str
) -> None:
    objs = render(kubectl, overlay)
    assert objs, f"{overlay} rendered nothing"
    for obj in objs:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        if group in CRD_GROUPS:
            # Custom resources: no schema ships with kubernetes-validate; their references
            # are checked below and in test_k8s_edge/test_k8s_scaling.
            continue
        # strict: an unknown (misspelt) field is an error, not silently dropped.
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_namespaced_object_is_in_the_namespace(kubectl: str, overlay: str) -> None:
    """`kubectl apply` of the render never lands an object in the caller's namespace."""
    objs = render(kubectl, overlay)
    for obj in objs:
        where = f"{overlay}: {obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in obj["metadata"], where
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, where
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"] == [NAMESPACE]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_references_resolve_inside_the_render(kubectl: str, overlay: str) -> None:
    """ConfigMaps, ServiceAccounts, Services and ports, scale targets: all rendered."""
    objs = render(kubectl, overlay)
    configmaps, accounts = of_kind(objs, "ConfigMap"), of_kind(objs, "ServiceAccount")
    deployments, services = of_kind(objs, "Deployment"), of_kind(objs, "Service")
    for name, spec in pod_specs(objs, WORKLOADS).items():
        if "serviceAccountName" in spec:
            assert spec["serviceAccountName"] in accounts, name
        for c in spec["containers"]:
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps, name
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["key"] in configmaps[ref["name"]]["data"], (name, var["name"])
    workload_labels = [
        o["spec"]["template"]["metadata"]["labels"] for o in objs if o["kind"] in WORKLOADS
    ]
    for name, service in services.items():
        selector = {"matchLabels": service["spec"]["selector"]}
        assert any(selects(selector, labels) for labels in workload_labels), name
    for name, hpa in of_kind(objs, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments, name
    for name, scaled in of_kind(objs, "ScaledObject").items():
        assert scaled["spec"]["scaleTargetRef"]["name"] in deployments, name
        for trigger in scaled["spec"]["triggers"]:
            if "authenticationRef" in trigger:
                assert trigger["authenticationRef"]["name"] in of_kind(
                    objs, "TriggerAuthentication"
                )
    for name, pdb in of_kind(objs, "PodDisruptionBudget").items():
        assert any(selects(pdb["spec"]["selector"], labels) for labels in workload_labels), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_the_restricted_standard(kubectl: str, overlay: str) -> None:
    """The namespace enforces Pod Security "restricted": every pod, dev dependencies too."""
    for name, spec in pod_specs(render(kubectl, overlay), WORKLOADS).items():
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, name
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC")), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c.get("securityContext", {})
            where = f"{overlay}/{name}/{c['name']}"
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("capabilities", {}).get("add"), where
            assert sc.get("readOnlyRootFilesystem") is True, where
            for kind in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert c.get("resources", {}).get(kind, {}).get(resource), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_container_is_locked_down(kubectl: str, overlay: str) -> None:
    specs = pod_specs(render(kubectl, overlay))
    assert set(specs) == SERVICES
    for name, spec in specs.items():
        pod_sc = spec.get("securityContext", {})
        assert spec.get("enableServiceLinks") is False, name
        for c in spec["containers"]:
            sc = c.get("securityContext", {})

            def effective(
                key: str, sc: dict[str, Any] = sc, pod_sc: dict[str, Any] = pod_sc
            ) -> Any:
                return sc.get(key, pod_sc.get(key))

            where = f"{overlay}/{name}/{c['name']}"
            assert effective("runAsNonRoot") is True, where
            assert effective("runAsUser") == 10001, where
            assert sc.get("privileged", False) is False, where
            assert effective("seccompProfile") == {"type": "RuntimeDefault"}, where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_accounts_mount_no_token(kubectl: str, overlay: str) -> None:
    objs = render(kubectl, overlay)
    accounts = of_kind(objs, "ServiceAccount")
    assert set(accounts) == SERVICES
    assert all(a.get("automountServiceAccountToken") is False for a in accounts.values())
    for name, spec in pod_specs(objs).items():
        assert spec["serviceAccountName"] == name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_metrics_ports(kubectl: str, overlay: str) -> None:
    objs = render(kubectl, overlay)
    deployments = of_kind(objs, "Deployment")
    ports = {"gateway": 8000, "worker": 9100, "janitor": 9101, "queue-exporter": 9102}
    for name, deployment in deployments.items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(ports[name]), name
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert ports[name] in {p["containerPort"] for p in container["ports"]}, name
    (gateway,) = deployments["gateway"]["spec"]["template"]["spec"]["containers"]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = container_env(objs, "worker")
    worker = deployments["worker"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for m in worker["containers"][0]["volumeMounts"]}
    assert env["WORKER_MODEL_CACHE_DIR"] in mounts
    # The gateway keeps images in memory only: it gets no writable volume at all.
    assert not deployments["gateway"]["spec"]["template"]["spec"].get("volumes")
    # Any scratch space the worker has is memory-backed, never the node's disk.
    assert {v["name"]: v for v in worker["volumes"]}["tmp"]["emptyDir"]["medium"] == "Memory"
    exporter = container_env(objs, "queue-exporter")
    assert exporter["QUEUE_EXPORTER_PORT"] == "9102"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_load_from_the_rendered_environment(
    kubectl: str, overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every variable is one the services know, and the real settings classes accept them."""
    from gateway.settings import GatewaySettings
    from janitor.settings import JanitorSettings
    from shared.ops_metrics import QueueExporterSettings
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
        "QUEUE_EXPORTER_": QueueExporterSettings,
    }
    classes: dict[str, Any] = {
        "gateway": GatewaySettings,
        "worker": WorkerSettings,
        "janitor": JanitorSettings,
        "queue-exporter": QueueExporterSettings,
    }
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
        assert settings.log.format == "json"
        if name != "janitor":
            assert settings.broker.backend == "rabbitmq"
            assert env["BROKER_URL"] is None, "the broker URL must come from a Secret"
        if name == "queue-exporter":
            continue
        assert settings.storage.backend == "s3"
        assert settings.storage.create_buckets is False
        assert settings.storage.secure is (overlay != "dev")  # dev: plain HTTP in-namespace
        assert env["STORAGE_ACCESS_KEY"] is None and env["STORAGE_SECRET_KEY"] is None
        if name == "gateway":
            assert settings.host == "0.0.0.0"
            assert settings.port == 8000
            assert settings.proxy_hops == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_its_own_credentials(kubectl: str, overlay: str) -> None:
    from tests.deploy.k8s_render import secret_refs

    objs = render(kubectl, overlay)
    others = [o for o in objs if o["kind"] == "Secret"]  # to strip generator hashes
    for name, deployment in of_kind(objs, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert all("secretRef" not in s for s in container.get("envFrom", [])), name
        # Own credentials, plus the shared service keys for the two that touch image bytes.
        shared = {"picupscaler-crypto"} if name in ("gateway", "worker") else set()
        secrets = {secret for secret, _ in secret_refs([*others, deployment])}
        assert secrets == {f"picupscaler-{name}"} | shared, name
    janitor_vars = {v["name"] for v in pod_specs(objs)["janitor"]["containers"][0]["env"]}
    assert "BROKER_URL" not in janitor_vars


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies(kubectl: str, overlay: str) -> None:
    policies = of_kind(render(kubectl, overlay), "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny

    def selected(policy: dict[str, Any], component: str) -> bool:
        labels = {"app.kubernetes.io/name": "picupscaler", "app.kubernetes.io/component": component}
        return selects(policy["spec"]["podSelector"], labels)

    def ports(component: str, direction: str) -> set[int]:
        found: set[int] = set()
        for policy in policies.values():
            if selected(policy, component):
                for rule in policy["spec"].get(direction, []):
                    found |= {p["port"] for p in rule.get("ports", [])}
        return found

    dns = {53}
    plain = overlay == "dev"
    assert ports("janitor", "egress") - dns == {9000}, "the janitor talks to S3 only"
    assert ports("queue-exporter", "egress") - dns == ({5671, 5672} if plain else {5671})
    assert ports("worker", "egress") - dns == (
        {5671, 9000, 6379, 5672} if plain else {5671, 9000, 6379}
    )
    assert ports("gateway", "egress") - dns == (
        {5671, 9000, 6379, 5672} if plain else {5671, 9000, 6379}
    )
    # The gateway is reached by the edge proxy only (prod), by nothing but port-forward (dev).
    edge = {"prod": "envoy-gateway-system", "prod-ingress": "ingress-nginx"}.get(overlay)
    ingress = [
        rule
        for policy in policies.values()
        if selected(policy, "gateway") and policy["metadata"]["name"] != "allow-prometheus-scrape"
        for rule in policy["spec"].get("ingress", [])
    ]
    if edge is None:
        assert not ingress
    else:
        (rule,) = ingress
        assert [p["port"] for p in rule["ports"]] == [8000]
        assert rule["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": edge}}}
        ]


def test_dev_overlay_brings_its_dependencies(kubectl: str) -> None:
    """A complete try-out: RabbitMQ, S3 and Redis in the namespace, the services pointed at
    them, every Secret they read generated except the service keys."""
    from tests.deploy.k8s_render import secret_refs

    objs = render(kubectl, "dev")
    deployments = of_kind(objs, "Deployment")
    assert {n: d["spec"]["replicas"] for n, d in deployments.items()} == dict.fromkeys(SERVICES, 1)
    assert set(of_kind(objs, "StatefulSet")) == {"rabbitmq", "minio", "redis"}
    assert {"rabbitmq", "minio", "redis", "gateway"} <= set(of_kind(objs, "Service"))
    assert "minio-buckets" in of_kind(objs, "Job")
    env = container_env(objs, "gateway")
    assert env["STORAGE_ENDPOINT"] == "minio:9000"
    (container,) = deployments["worker"]["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in json.dumps(container["resources"])
    assert container_env(objs, "worker")["WORKER_DEVICE"] == "cpu"
    assert not of_kind(objs, "Ingress") and not of_kind(objs, "HTTPRoute")
    secrets = of_kind(objs, "Secret")
    bases = {name.rsplit("-", 1)[0]: s for name, s in secrets.items()}
    for secret, key in secret_refs(objs):
        if secret == "picupscaler-crypto":
            continue  # a real key, created by hand (deploy/k8s/README.md, "Dev try-out")
        assert secret in bases, secret
        if key != "*":
            assert key in bases[secret]["data"], (secret, key)
    # The broker URL in the services' Secrets matches the dev RabbitMQ's user.
    import base64

    def value(secret: str, key: str) -> str:
        return base64.b64decode(bases[secret]["data"][key]).decode()

    user = value("picupscaler-dev-rabbitmq", "RABBITMQ_DEFAULT_USER")
    password = value("picupscaler-dev-rabbitmq", "RABBITMQ_DEFAULT_PASS")
    for service in ("gateway", "worker", "queue-exporter"):
        assert value(f"picupscaler-{service}", "BROKER_URL").startswith(
            f"amqp://{user}:{password}@rabbitmq:5672/"
        )


@pytest.mark.parametrize("overlay", ["prod", "prod-ingress"])
def test_secrets_are_never_rendered_in_production(kubectl: str, overlay: str) -> None:
    assert not of_kind(render(kubectl, overlay), "Secret"), "secrets must not be rendered"


def test_operator_models_component(kubectl: str, tmp_path: Path) -> None:
    """The component mounts one read-only model volume into workers and gateways alike."""
    objs = render_with(kubectl, tmp_path, ["operator-models"])
    claim = of_kind(objs, "PersistentVolumeClaim")["picupscaler-models"]
    assert claim["metadata"]["namespace"] == NAMESPACE
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    specs = pod_specs(objs)
    for name, variable in (("worker", "MODEL_DIR"), ("gateway", "MODEL_DIR")):
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


@pytest.mark.parametrize(
    ("overlay", "budget"), [("dev", "1024"), ("prod", "auto"), ("prod-ingress", "auto")]
)
def test_worker_tiles_come_from_a_memory_budget(kubectl: str, overlay: str, budget: str) -> None:
    """Tile size and batch follow the device's memory, not fixed numbers that fit one card."""
    env = container_env(render(kubectl, overlay), "worker")
    assert env["WORKER_TILE_MEMORY_MB"] == budget
    assert "WORKER_TILE_SIZE" not in env and "WORKER_TILE_BATCH" not in env
