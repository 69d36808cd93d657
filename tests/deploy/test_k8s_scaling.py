"""Scaling and disruption: GPU workers follow the queue (KEDA), gateways follow CPU (HPA),
every Deployment has a disruption budget, and no stop cuts a job short."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.k8s_render import (
    OVERLAYS,
    PROD_OVERLAYS,
    container_env,
    of_kind,
    render,
    render_with,
    selects,
)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget_that_allows_drains(
    kubectl: str, overlay: str
) -> None:
    objs = render(kubectl, overlay)
    budgets = of_kind(objs, "PodDisruptionBudget").values()
    for name, deployment in of_kind(objs, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        (budget,) = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        # maxUnavailable 1: a drain never blocks on a single replica, never takes two at once.
        assert budget["spec"] == {**budget["spec"], "maxUnavailable": 1}, name
        assert "minAvailable" not in budget["spec"], name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_worker_stops_only_after_its_longest_job(kubectl: str, overlay: str) -> None:
    """SIGTERM (rollout, drain, scale-in): the running job gets up to the job time limit, then
    90 s to hand back and close, before the kubelet's SIGKILL."""
    objs = render(kubectl, overlay)
    env = container_env(objs, "worker")
    time_limit = int(env["BROKER_TIME_LIMIT_SECONDS"] or 0)
    shutdown_grace = int(env["WORKER_SHUTDOWN_GRACE_SECONDS"] or 0)
    worker = of_kind(objs, "Deployment")["worker"]["spec"]["template"]["spec"]
    assert time_limit == 900
    assert shutdown_grace >= time_limit
    assert worker["terminationGracePeriodSeconds"] >= max(time_limit, shutdown_grace) + 90


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_gpu_workers_scale_on_queue_depth_and_message_age(kubectl: str, overlay: str) -> None:
    from shared import ops_metrics

    objs = render(kubectl, overlay)
    deployments = of_kind(objs, "Deployment")
    worker = deployments["worker"]["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" for t in worker["tolerations"])
    assert container_env(objs, "worker")["WORKER_DEVICE"] == "cuda"
    # The autoscalers own the replica counts.
    assert "replicas" not in deployments["worker"]["spec"]
    assert "replicas" not in deployments["gateway"]["spec"]
    scaled = of_kind(objs, "ScaledObject")["worker"]["spec"]
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"}
    assert scaled["scaleTargetRef"] == target
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    triggers = {t["type"]: t for t in scaled["triggers"]}
    queue = container_env(objs, "worker")["BROKER_QUEUE"]
    rabbit = triggers["rabbitmq"]
    assert rabbit["metadata"]["queueName"] == queue
    assert rabbit["metadata"]["mode"] == "QueueLength" and rabbit["metadata"]["protocol"] == "amqp"
    assert rabbit["metadata"]["activationValue"] == "0"  # any message wakes a sleeping fleet
    auth = of_kind(objs, "TriggerAuthentication")[rabbit["authenticationRef"]["name"]]
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"host"}
    age = triggers["prometheus"]["metadata"]
    assert ops_metrics.QUEUE_OLDEST_AGE._name in age["query"]  # noqa: SLF001
    assert 'role="work"' in age["query"]
    hpa = of_kind(objs, "HorizontalPodAutoscaler")["gateway"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "gateway" and hpa["minReplicas"] >= 3


def test_scale_to_zero_component(kubectl: str, tmp_path: Path) -> None:
    objs = render_with(kubectl, tmp_path, ["scale-to-zero"])
    assert of_kind(objs, "ScaledObject")["worker"]["spec"]["minReplicaCount"] == 0


def test_dev_broker_waits_longer_than_the_longest_job(kubectl: str) -> None:
    """RabbitMQ closes a channel whose delivery is unacked past consumer_timeout."""
    objs = render(kubectl, "dev")
    (container,) = of_kind(objs, "StatefulSet")["rabbitmq"]["spec"]["template"]["spec"][
        "containers"
    ]
    args = {v["name"]: v.get("value") for v in container["env"]}[
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"
    ]
    timeout_ms = int(str(args).split("consumer_timeout")[1].split()[0])
    time_limit = int(container_env(objs, "worker")["BROKER_TIME_LIMIT_SECONDS"] or 0)
    assert timeout_ms > time_limit * 1000
