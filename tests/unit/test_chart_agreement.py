"""The chart and the code agree: what the chart sets is read, what it declares is served, what it
documents changes something, and the names it spells are the wire contract's.

Renders ``charts/nearpath`` with helm (cached by ``make setup``) for every values set in
``charts/nearpath/ci`` and checks:

- every ``NEARPATH_*`` variable a nearpath container gets is a field of that component's settings
  model (or is read by the image's host-tool wrappers, or expanded into another variable), and
  the values parse with that model;
- every field of each settings model is read by its component's code (no dead knob);
- every container port is served: ``metrics`` by the component's ``metrics_port`` (set to the
  same port), ``iscsi`` by the target's portals, anything else by a container of the pod started
  with ``--http-endpoint=:<port>``; every Service and ServiceMonitor port leads to such a port;
- every value in values.yaml changes the rendered objects;
- the CSI driver name, the target-disabled node label and the VolumeGroup API in RBAC rules are
  ``core/contract.py``'s and ``core/api``'s.
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import os
import re
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from nearpath.core import api, contract
from nearpath.csi.settings import CsiSettings
from nearpath.operator.settings import OperatorSettings
from nearpath.preflight.settings import PreflightSettings
from nearpath.target.settings import TargetSettings
from tests.support.chart import CHART_DIR, REPO_ROOT, VALUES_SETS, documents, helm_binary, render

pytestmark = pytest.mark.unit

RELEASE = "nearpath"
NAMESPACE = "nearpath-system"
PREFIX = "NEARPATH_"
# The container's first argument names the component whose settings model reads its environment.
SETTINGS: dict[str, type[BaseSettings]] = {
    "operator": OperatorSettings,
    "csi": CsiSettings,
    "target": TargetSettings,
    "preflight": PreflightSettings,
}
COMPONENT_DIRS = {"operator": "operator", "csi": "csi", "target": "target", "preflight": "preflight"}
# Variables the image's shell wrappers read (not a settings model): name -> file that reads them.
IMAGE_ENV = {"NEARPATH_HOST_PROC": REPO_ROOT / "Dockerfile"}
# Container port name -> the settings field of the nearpath process that binds it.
PORT_FIELDS = {"metrics": "metrics_port"}
HTTP_ENDPOINT = re.compile(r"^--http-endpoint=(?:[^:]*):(\d+)$")
EXPANSION = re.compile(r"\$\(([A-Z0-9_]+)\)")
SAMPLE_FIELD_REF = "10.0.0.1"  # what the downward API fills in, for parsing the values

if helm_binary() is None:
    pytest.skip("helm is not cached (make setup, tests/controlplane/fetch)", allow_module_level=True)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {name: documents(render(RELEASE, NAMESPACE, values)) for name, values in VALUES_SETS.items()}


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "DaemonSet"):
            yield doc["metadata"]["name"], doc["spec"]["template"]


def nearpath_containers(pod: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(component, container) of every container (and init container) running the nearpath image."""
    for container in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
        args = container.get("args") or []
        if args and args[0] in SETTINGS:
            yield args[0], container


def env_of(container: dict[str, Any]) -> dict[str, str]:
    """Plain values, with downward-API references replaced by a sample value."""
    return {e["name"]: e.get("value", SAMPLE_FIELD_REF) for e in container.get("env") or []}


def expanded(env: dict[str, str]) -> dict[str, str]:
    """``$(NAME)`` references expanded as the kubelet does."""
    return {k: EXPANSION.sub(lambda m: env.get(m.group(1), m.group(0)), v) for k, v in env.items()}


# -- variables ---------------------------------------------------------------------------------
@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_every_nearpath_variable_is_read_by_the_components_settings(
    rendered: dict[str, list[dict[str, Any]]], values_set: str
) -> None:
    unread: list[str] = []
    seen = 0
    for workload, pod in pod_specs(rendered[values_set]):
        for component, container in nearpath_containers(pod):
            model = SETTINGS[component]
            env = env_of(container)
            referenced = {m for v in env.values() for m in EXPANSION.findall(v)}
            for name in env:
                if not name.startswith(PREFIX):
                    continue
                seen += 1
                field = name[len(PREFIX) :].lower()
                if field in model.model_fields or name in referenced:
                    continue
                if name in IMAGE_ENV and name in IMAGE_ENV[name].read_text():
                    continue
                unread.append(f"{workload}/{container['name']}: {name} ({model.__name__} has no {field!r})")
        for container in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
            args = container.get("args") or []
            if not (args and args[0] in SETTINGS):
                stray = [e["name"] for e in container.get("env") or [] if e["name"].startswith(PREFIX)]
                assert not stray, f"{workload}/{container['name']} is no nearpath process but gets {stray}"
    assert seen > 10, f"only {seen} NEARPATH_* variables rendered: is the chart's environment gone?"
    assert not unread, "the chart sets variables nothing reads:\n" + "\n".join(unread)


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_the_charts_settings_parse(
    rendered: dict[str, list[dict[str, Any]]], values_set: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each container's environment is a valid settings object of its component."""
    for workload, pod in pod_specs(rendered[values_set]):
        for component, container in nearpath_containers(pod):
            env = expanded(env_of(container))
            with monkeypatch.context() as patched:
                for name in list(os.environ):
                    if name.startswith(PREFIX):
                        patched.delenv(name)
                for name, value in env.items():
                    patched.setenv(name, value)
                try:
                    SETTINGS[component]()
                except ValidationError as err:
                    pytest.fail(f"{workload}/{container['name']}: the chart's environment is invalid: {err}")


def attributes_read(directory: Path) -> set[str]:
    """Attribute names read anywhere in a component's modules (``settings.x``)."""
    names: set[str] = set()
    for path in directory.rglob("*.py"):
        if "proto" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


@functools.cache
def component_reads(component: str) -> frozenset[str]:
    return frozenset(attributes_read(REPO_ROOT / COMPONENT_DIRS[component]) | attributes_read(REPO_ROOT / "core"))


@pytest.mark.parametrize("component", sorted(SETTINGS))
def test_every_settings_field_is_read_by_its_component(component: str) -> None:
    read = component_reads(component)
    unused = sorted(f for f in SETTINGS[component].model_fields if f not in read)
    assert not unused, f"{SETTINGS[component].__name__} declares fields its component never reads: {unused}"


# -- ports ---------------------------------------------------------------------------------------
def served_ports(pod: dict[str, Any]) -> dict[int, str]:
    """Port -> what serves it in this pod."""
    served: dict[int, str] = {}
    for container in pod["spec"]["containers"]:
        for arg in container.get("args") or []:
            if match := HTTP_ENDPOINT.match(arg):
                served[int(match.group(1))] = f"{container['name']} {arg}"
    for component, container in nearpath_containers(pod):
        model, env = SETTINGS[component], expanded(env_of(container))
        for port_name, field in PORT_FIELDS.items():
            value = env.get(PREFIX + field.upper())
            if field in model.model_fields and field in component_reads(component) and value and int(value):
                served[int(value)] = f"{component} {field} ({port_name})"
        if component == "target":
            for portal in json.loads(env.get("NEARPATH_PORTALS", "[]")):
                served[int(portal.rsplit(":", 1)[1])] = f"target portal {portal}"
    return served


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_every_declared_port_is_served(rendered: dict[str, list[dict[str, Any]]], values_set: str) -> None:
    problems: list[str] = []
    pod_ports: dict[str, tuple[dict[str, str], set[int]]] = {}
    for workload, pod in pod_specs(rendered[values_set]):
        served = served_ports(pod)
        declared: set[int] = set()
        for container in pod["spec"]["containers"]:
            for port in container.get("ports") or []:
                number, name = port["containerPort"], port.get("name", "")
                declared.add(number)
                what = served.get(number)
                if what is None:
                    problems.append(f"{workload}/{container['name']}: port {name} {number} is served by nothing")
                elif name in PORT_FIELDS and PORT_FIELDS[name] not in what:
                    problems.append(f"{workload}: port {name} {number} is {what}, not {PORT_FIELDS[name]}")
        for component, container in nearpath_containers(pod):
            metrics = expanded(env_of(container)).get("NEARPATH_METRICS_PORT")
            if metrics and int(metrics) and int(metrics) not in declared:
                problems.append(f"{workload}: {component} serves metrics on {metrics} but declares no port")
        pod_ports[workload] = (pod["metadata"].get("labels") or {}, declared)
    for doc in rendered[values_set]:
        if doc["kind"] != "Service":
            continue
        selector = doc["spec"]["selector"]
        pods = [ports for labels, ports in pod_ports.values() if selector.items() <= labels.items()]
        if not pods:
            problems.append(f"Service {doc['metadata']['name']} selects no pod")
        for port in doc["spec"]["ports"]:
            if any(port["targetPort"] not in ports for ports in pods):
                problems.append(f"Service {doc['metadata']['name']}: targetPort {port['targetPort']} not declared")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_service_monitors_scrape_existing_service_ports(
    rendered: dict[str, list[dict[str, Any]]], values_set: str
) -> None:
    docs = rendered[values_set]
    for monitor in (d for d in docs if d["kind"] == "ServiceMonitor"):
        match = monitor["spec"]["selector"]["matchLabels"]
        services = [d for d in docs if d["kind"] == "Service" and match.items() <= d["metadata"]["labels"].items()]
        assert services, f"ServiceMonitor {monitor['metadata']['name']} selects no Service"
        for endpoint in monitor["spec"]["endpoints"]:
            for service in services:
                names = {p["name"] for p in service["spec"]["ports"]}
                assert endpoint["port"] in names, f"{service['metadata']['name']} has no port {endpoint['port']}"


# -- the contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("values_set", sorted(VALUES_SETS))
def test_chart_names_are_the_contracts(rendered: dict[str, list[dict[str, Any]]], values_set: str) -> None:
    docs = rendered[values_set]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    assert [d["metadata"]["name"] for d in by_kind["CSIDriver"]] == [contract.DRIVER_NAME]
    assert by_kind["StorageClass"]
    for sc in by_kind["StorageClass"]:
        assert sc["provisioner"] == contract.DRIVER_NAME, sc["metadata"]["name"]
    pods = dict(pod_specs(docs))
    node = next(pod for name, pod in pods.items() if name.endswith("-csi-node"))
    registrar = next(c for c in node["spec"]["containers"] if c["name"] == "node-driver-registrar")
    paths = [a.split("=", 1)[1] for a in registrar["args"] if a.startswith("--kubelet-registration-path=")]
    assert paths and all(p.endswith(f"/plugins/{contract.DRIVER_NAME}/csi.sock") for p in paths), paths
    plugin_dirs = [v["hostPath"]["path"] for v in node["spec"]["volumes"] if v["name"] == "plugin-dir"]
    assert plugin_dirs and plugin_dirs[0].endswith(f"/plugins/{contract.DRIVER_NAME}"), plugin_dirs

    target = next(pod for name, pod in pods.items() if name.endswith("-target"))
    terms = target["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expressions = [e for t in terms["nodeSelectorTerms"] for e in t["matchExpressions"]]
    assert {"key": contract.TARGET_DISABLED_LABEL, "operator": "NotIn", "values": [contract.TARGET_DISABLED_VALUE]} in (
        expressions
    )

    rules = [r for kind in ("ClusterRole", "Role") for d in by_kind.get(kind, []) for r in d.get("rules") or []]
    vg_rules = [r for r in rules if any(res.split("/")[0] == api.PLURAL for res in r.get("resources", []))]
    assert vg_rules, "no RBAC rule names VolumeGroups"
    for rule in vg_rules:
        assert rule["apiGroups"] == [api.GROUP], rule

    operator = next(pod for name, pod in pods.items() if name.endswith("-operator"))
    operator_env = env_of(next(c for _, c in nearpath_containers(operator)))
    assert operator_env["NEARPATH_LEASE_NAMESPACE"] == NAMESPACE
    if values_set == "default":
        assert operator_env["NEARPATH_LEADER_LEASE_NAME"] == contract.LEADER_LEASE_NAME


# -- values ----------------------------------------------------------------------------------------
ENUM_ALTERNATIVES = {"nsenter": "container", "container": "nsenter", "local": "shared", "shared": "local"}


def changed(value: Any) -> Any:
    """A different value of the same shape that the templates accept."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return ENUM_ALTERNATIVES.get(value, f"{value}x" if value else "x")
    if isinstance(value, list):
        return [] if value else ["x"]
    if isinstance(value, dict):
        return {"example.com/x": "y"}
    raise TypeError(f"no alternative for {value!r}")


def leaves(tree: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every value a user can set: scalars, empty collections, lists of scalars."""
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from leaves(value, (*path, key))
    elif isinstance(tree, list) and tree and all(isinstance(item, dict) for item in tree):
        if path[-1:] == ("tolerations",):
            yield path, tree
            return
        for index, item in enumerate(tree):
            yield from leaves(item, (*path, index))
    else:
        yield path, tree


def with_value(tree: Any, path: tuple[str | int, ...], value: Any) -> Any:
    result = copy.deepcopy(tree)
    node = result
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return result


def merged(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: merged(base.get(k), v) if k in base else v for k, v in override.items()} | {
            k: v for k, v in base.items() if k not in override
        }
    return copy.deepcopy(override)


def render_tree(tree: Any, directory: Path, label: str) -> str:
    path = directory / f"{label}.yaml"
    path.write_text(yaml.safe_dump(tree))
    return render(RELEASE, NAMESPACE, path)


def test_every_value_changes_the_rendered_chart() -> None:
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    everything = merged(defaults, yaml.safe_load((CHART_DIR / "ci" / "all-enabled-values.yaml").read_text()))
    paths = [path for path, _ in leaves(defaults)]
    assert len(paths) > 60, f"only {len(paths)} values found in values.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        bases = [
            (name, tree, render_tree(tree, directory, name)) for name, tree in (("d", defaults), ("e", everything))
        ]

        def no_effect(item: tuple[int, tuple[str | int, ...]]) -> str | None:
            index, path = item
            for name, tree, baseline in bases:
                try:
                    old = tree
                    for key in path:
                        old = old[key]
                except (KeyError, IndexError):
                    continue
                variant = with_value(tree, path, changed(old))
                try:
                    if render_tree(variant, directory, f"{name}{index}") != baseline:
                        return None
                except RuntimeError as err:  # the chart refuses the value (`fail`): it has an effect
                    if "execution error" in str(err):
                        return None
                    raise
            return ".".join(str(p) for p in path)

        with ThreadPoolExecutor(max_workers=4) as pool:
            inert = [p for p in pool.map(no_effect, enumerate(paths)) if p]
    assert not inert, f"values that change nothing (remove them or make them work): {inert}"
