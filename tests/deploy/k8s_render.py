"""Rendering the kustomize overlays once per test run, reading the rendered objects, and the
README's code blocks."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["dev", "prod", "prod-ingress"]
PROD_OVERLAYS = ["prod", "prod-ingress"]
NAMESPACE = "picupscaler"
#: The services this project runs (one Deployment, ServiceAccount and PDB each).
SERVICES = {"gateway", "worker", "janitor", "queue-exporter"}
#: Groups of the custom resources the overlays use; kubernetes-validate has no schema for them.
CRD_GROUPS = {
    "keda.sh",
    "monitoring.coreos.com",
    "gateway.networking.k8s.io",
    "gateway.envoyproxy.io",
}
#: Kinds that have no namespace.
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "GatewayClass"}
#: Workload kinds whose pod template the security checks read.
WORKLOADS = {"Deployment", "StatefulSet", "Job"}

_RENDERED: dict[str, list[dict[str, Any]]] = {}

Obj = dict[str, Any]


def render(kubectl: str, overlay: str) -> list[Obj]:
    """The objects ``kubectl kustomize`` renders for ``overlay`` (cached per run)."""
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


def render_with(
    kubectl: str, workdir: Path, components: list[str], base: str = "prod"
) -> list[Obj]:
    """The objects of ``base`` with optional ``components`` added (an overlay in ``workdir``)."""
    overlay = workdir / f"{base}-{'-'.join(components)}"
    overlay.mkdir(parents=True, exist_ok=True)
    up = os.path.relpath(K8S, overlay)
    listed = ", ".join(f"{up}/components/{c}" for c in components)
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{up}/overlays/{base}]\ncomponents: [{listed}]\n"
    )
    out = subprocess.run(
        [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def of_kind(objs: list[Obj], kind: str) -> dict[str, Obj]:
    """Objects of one kind by name."""
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def pod_specs(objs: list[Obj], kinds: set[str] | None = None) -> dict[str, Obj]:
    """Pod specs of the workloads (Deployments by default) by name."""
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in objs
        if o["kind"] in (kinds or {"Deployment"})
    }


def container_env(objs: list[Obj], deployment: str) -> dict[str, str | None]:
    """The environment of a Deployment's container: its ConfigMaps, then its own ``env``.

    Values that come from a Secret or the downward API are ``None``.
    """
    configmaps = of_kind(objs, "ConfigMap")
    (container,) = pod_specs(objs)[deployment]["containers"]
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value") if "valueFrom" not in var else None
    return env


def secret_refs(objs: list[Obj]) -> set[tuple[str, str]]:
    """Every (Secret name, key) the rendered objects read, generator hashes stripped.

    Pods (secretKeyRef, envFrom secretRef as key "*"), KEDA TriggerAuthentications, the TLS
    Secrets of Ingresses and Gateways.
    """
    rendered = set(of_kind(objs, "Secret"))
    refs: set[tuple[str, str]] = set()

    def base(name: str) -> str:
        match = re.fullmatch(r"(.+)-[a-z0-9]{10}", name)
        return match.group(1) if match and name in rendered else name

    for spec in pod_specs(objs, WORKLOADS).values():
        for c in spec.get("initContainers", []) + spec["containers"]:
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.add((base(ref["name"]), ref["key"]))
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    refs.add((base(source["secretRef"]["name"]), "*"))
    for auth in of_kind(objs, "TriggerAuthentication").values():
        for ref in auth["spec"].get("secretTargetRef", []):
            refs.add((base(ref["name"]), ref["key"]))
    for ingress in of_kind(objs, "Ingress").values():
        for tls in ingress["spec"].get("tls", []):
            refs |= {(tls["secretName"], "tls.crt"), (tls["secretName"], "tls.key")}
    for gateway in of_kind(objs, "Gateway").values():
        for listener in gateway["spec"]["listeners"]:
            for cert in listener.get("tls", {}).get("certificateRefs", []):
                refs |= {(cert["name"], "tls.crt"), (cert["name"], "tls.key")}
    return refs


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector selects ``labels``."""
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def readme_block(marker: str) -> str:
    """The README's ``sh`` code block that contains ``marker`` (its indentation removed)."""
    text = (K8S / "README.md").read_text()
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        if marker in block:
            lines = block.splitlines()
            indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
            return "\n".join(x[indent:] for x in lines) + "\n"
    raise AssertionError(f"no sh block with {marker!r} in deploy/k8s/README.md")
