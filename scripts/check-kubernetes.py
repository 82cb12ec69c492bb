#!/usr/bin/env python3
"""Checks deploy/kubernetes/ strictly, offline (no cluster, no schema download).

Usage: check-kubernetes.py [DIRECTORY]   (default: deploy/kubernetes)

Every key of every object must be one this checker knows for that kind (a misspelt
`readinesProbe` is an error, where Kubernetes would silently drop it with a warning at most), and
the objects must agree with each other and with the broker: the kustomization lists files that
exist, the ConfigMaps the pods mount are generated, probes hit endpoints the admin server serves
on the port it listens on, the rules are mounted where broker.yaml looks for them, and the grace
period outlasts the drain deadline. Exit 0 when all holds; each problem is printed otherwise.
"""
import pathlib
import re
import sys

import yaml

# The fields each kind may use, as nested dicts; "*" is any key (labels, annotations), a list holds
# the item's fields, and None is a leaf (any value).
PROBE = {"httpGet": {"path": None, "port": None, "scheme": None}, "periodSeconds": None, "failureThreshold": None,
         "initialDelaySeconds": None, "timeoutSeconds": None, "successThreshold": None}
CONTAINER = {
    "name": None, "image": None, "imagePullPolicy": None, "args": None, "command": None,
    "env": [{"name": None, "value": None, "valueFrom": {"fieldRef": {"fieldPath": None},
                                                        "secretKeyRef": {"name": None, "key": None}}}],
    "envFrom": [{"secretRef": {"name": None}, "configMapRef": {"name": None}}],
    "ports": [{"name": None, "containerPort": None, "protocol": None}],
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
    "resources": {"requests": {"cpu": None, "memory": None}, "limits": {"cpu": None, "memory": None}},
    "securityContext": {"allowPrivilegeEscalation": None, "readOnlyRootFilesystem": None,
                        "capabilities": {"drop": None, "add": None}},
    "volumeMounts": [{"name": None, "mountPath": None, "subPath": None, "readOnly": None}],
}
METADATA = {"name": None, "namespace": None, "labels": {"*": None}, "annotations": {"*": None}}
SELECTOR = {"matchLabels": {"*": None}}
KINDS = {
    ("apps/v1", "Deployment"): {
        "apiVersion": None, "kind": None, "metadata": METADATA,
        "spec": {
            "replicas": None, "selector": SELECTOR,
            "strategy": {"type": None, "rollingUpdate": {"maxUnavailable": None, "maxSurge": None}},
            "template": {
                "metadata": METADATA,
                "spec": {
                    "terminationGracePeriodSeconds": None,
                    "securityContext": {"runAsNonRoot": None, "runAsUser": None, "runAsGroup": None,
                                        "fsGroup": None, "seccompProfile": {"type": None}},
                    "containers": [CONTAINER],
                    "volumes": [{"name": None, "configMap": {"name": None}, "secret": {"secretName": None}}],
                },
            },
        },
    },
    ("policy/v1", "PodDisruptionBudget"): {
        "apiVersion": None, "kind": None, "metadata": METADATA,
        "spec": {"maxUnavailable": None, "minAvailable": None, "selector": SELECTOR},
    },
    ("v1", "Secret"): {"apiVersion": None, "kind": None, "metadata": METADATA, "type": None,
                       "stringData": {"*": None}, "data": {"*": None}},
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): {
        "apiVersion": None, "kind": None, "resources": None, "namespace": None,
        "labels": [{"pairs": {"*": None}, "includeSelectors": None}],
        "configMapGenerator": [{"name": None, "files": None}],
        "generatorOptions": {"disableNameSuffixHash": None},
    },
}
# The admin server's endpoints (Sources/BrokerDaemon/AdminServer.swift) that need no token.
PROBE_PATHS = {"/healthz", "/readyz", "/metrics"}


def strict(node, shape, where, problems):
    """Every key of `node` is one `shape` allows, recursively."""
    if shape is None:
        return
    if isinstance(shape, list):
        if not isinstance(node, list):
            problems.append(f"{where}: expected a list")
            return
        for index, item in enumerate(node):
            strict(item, shape[0], f"{where}[{index}]", problems)
        return
    if not isinstance(node, dict):
        problems.append(f"{where}: expected a mapping")
        return
    for key, value in node.items():
        if key in shape:
            strict(value, shape[key], f"{where}.{key}", problems)
        elif "*" not in shape:
            problems.append(f"{where}: unknown key '{key}' (known: {', '.join(sorted(shape))})")


def main(directory):
    problems = []
    objects = {}
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        if not isinstance(document, dict) or "kind" not in document:
            continue  # broker.yaml: the broker's own config, checked by the broker's schema
        kind = (document.get("apiVersion"), document.get("kind"))
        if kind not in KINDS:
            problems.append(f"{path.name}: unknown kind {kind}")
            continue
        strict(document, KINDS[kind], path.name, problems)
        objects[kind[1]] = (path.name, document)

    kustomization = objects.get("Kustomization", (None, {}))[1]
    generated = {}
    for resource in kustomization.get("resources", []):
        if not (directory / resource).exists():
            problems.append(f"kustomization.yaml: resource {resource} does not exist")
    for generator in kustomization.get("configMapGenerator", []):
        generated[generator["name"]] = {}
        for entry in generator.get("files", []):
            key, _, source = entry.partition("=")
            if not (directory / (source or key)).exists():
                problems.append(f"kustomization.yaml: {generator['name']} file {source or key} does not exist")
            generated[generator["name"]][key] = directory / (source or key)

    deployment = objects.get("Deployment", (None, {}))[1]
    pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
    container = (pod.get("containers") or [{}])[0]
    config_path = generated.get("broker-config", {}).get("broker.yaml")
    config = yaml.safe_load(config_path.read_text()) if config_path and config_path.exists() else {}
    admin_port = int(str(config.get("admin-address", "127.0.0.1:7391")).rpartition(":")[2])
    if not str(config.get("admin-address", "")).startswith("0.0.0.0"):
        problems.append("broker.yaml: admin-address must listen beyond loopback for the kubelet's probes")
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = container.get(probe, {}).get("httpGet")
        if not get:
            problems.append(f"deployment.yaml: no {probe}")
            continue
        if get.get("path") not in PROBE_PATHS:
            problems.append(f"deployment.yaml: {probe} asks {get.get('path')}, which the admin server does not serve")
        port = ports.get(get.get("port"), get.get("port"))
        if port != admin_port:
            problems.append(f"deployment.yaml: {probe} port {port} is not the admin port {admin_port}")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        source = volumes.get(mount["name"], {}).get("configMap", {}).get("name")
        if source and source not in generated:
            problems.append(f"deployment.yaml: volume {mount['name']} mounts ConfigMap {source}, which is not generated")
    rules_mounts = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] == "rules"]
    if rules_mounts != [config.get("rules")]:
        problems.append(f"deployment.yaml: the rules are mounted at {rules_mounts}, broker.yaml reads {config.get('rules')}")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    drain = int(config.get("drain-timeout", 10))
    if grace <= drain:
        problems.append(f"deployment.yaml: terminationGracePeriodSeconds {grace} must exceed drain-timeout {drain}")
    limit = container.get("resources", {}).get("limits", {}).get("memory")
    if not limit or not re.fullmatch(r"[0-9]+(Mi|Gi)", limit):
        problems.append("deployment.yaml: a memory limit in Mi or Gi is expected")

    for problem in problems:
        print(problem)
    print(f"{len(objects)} object(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/kubernetes")))
