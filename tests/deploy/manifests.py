"""Offline checks of the Kubernetes manifests in deploy/kubernetes.

Three layers, each returning the problems it found as readable lines (empty: all good):

- ``kubernetes_errors``: every built-in object (Deployment, Service, …) against the
  Kubernetes OpenAPI schemas that the ``kubernetes-validate`` package ships (no cluster,
  no network), in strict mode: an unknown field is an error, not silently dropped.
- ``raycluster_errors``: the RayCluster against tests/deploy/raycluster-v1.schema.yaml
  (KubeRay's ray.io/v1 CRD, strict), whose pod templates are checked with the same
  Kubernetes schemas as a Pod.
- ``consistency_errors``: what no schema can see: the runs root is the same volume at the
  same path on every pod and in config.yaml, the executor's address is the head's Service,
  the secrets are mounted where the config reads them, the pods run as the image's
  non-root user, the kustomization lists every file.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate.utils import all_versions, latest_version, major_minor
from referencing import Registry, Resource

from conductor_loop.config.loader import parse_config, read_yaml, unknown_keys

REPO = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO / "deploy" / "kubernetes"
RAYCLUSTER_SCHEMA = Path(__file__).with_name("raycluster-v1.schema.yaml")
# The oldest Kubernetes minor the manifests are meant for, and the newest the package has.
MIN_KUBERNETES = "1.30"
K8S_DEFS_ID = "https://kubernetes.io/api/_definitions.json"

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Manifest:
    path: Path
    doc: Doc

    @property
    def name(self) -> str:
        meta = self.doc.get("metadata", {})
        return f"{self.path.name}: {self.doc.get('kind')}/{meta.get('name')}"


def kubernetes_versions() -> list[str]:
    return sorted({MIN_KUBERNETES, major_minor(latest_version())})


def load_dir(directory: Path) -> list[Manifest]:
    """Every object of every manifest (not kustomization.yaml), in file order."""
    found = []
    for path in sorted(directory.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found.append(Manifest(path, doc))
    return found


def load_kustomization(directory: Path) -> Doc:
    data: Doc = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    return data


# --- schemas ---------------------------------------------------------------------------


def kubernetes_errors(manifest: Manifest, version: str) -> list[str]:
    try:
        kubernetes_validate.validate(manifest.doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path) or "(top)"
        return [f"{manifest.name}: Kubernetes {exc.version}: {where}: {exc.message}"]
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{manifest.name}: {exc.message}"]
    return []


def _definitions(version: str) -> Doc:
    found = [v for v in all_versions() if major_minor(v) == major_minor(version)]
    assert found, f"kubernetes-validate has no schemas of Kubernetes {version}"
    full = found[-1]
    ref = resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{full}-local-strict/_definitions.json"
    )
    data: Doc = json.loads(ref.read_text(encoding="utf-8"))
    return data


@cache
def raycluster_validator(version: str) -> jsonschema.Draft202012Validator:
    text = RAYCLUSTER_SCHEMA.read_text(encoding="utf-8").replace("K8S#", f"{K8S_DEFS_ID}#")
    schema = yaml.safe_load(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    registry: Registry = Resource.from_contents(_definitions(version)) @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


def raycluster_errors(manifest: Manifest, version: str) -> list[str]:
    validator = raycluster_validator(version)
    return [
        f"{manifest.name}: RayCluster schema (Kubernetes {version}): "
        f"{'.'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(manifest.doc), key=lambda e: list(e.path))
    ]


def schema_errors(directory: Path) -> list[str]:
    errors = []
    for manifest in load_dir(directory):
        for version in kubernetes_versions():
            if manifest.doc.get("kind") == "RayCluster":
                errors += raycluster_errors(manifest, version)
            else:
                errors += kubernetes_errors(manifest, version)
    return errors


# --- consistency -----------------------------------------------------------------------


def _only(manifests: list[Manifest], kind: str, errors: list[str]) -> Doc:
    docs = [m.doc for m in manifests if m.doc.get("kind") == kind]
    if len(docs) != 1:
        errors.append(f"expected exactly one {kind}, found {len(docs)}")
        return {}
    return docs[0]


def _image_uid() -> int:
    """The uid the image runs as (the Dockerfile's USER)."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER\s+(\d+)", text, flags=re.MULTILINE)
    assert users, "the Dockerfile sets no numeric USER"
    return int(users[-1])


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Doc]]:
    """(label, pod spec) of the server Deployment, the Ray head and each worker group."""
    for m in manifests:
        kind, spec = m.doc.get("kind"), m.doc.get("spec", {})
        if kind == "Deployment":
            yield f"Deployment/{m.doc['metadata']['name']}", spec["template"]["spec"]
        elif kind == "RayCluster":
            yield "RayCluster head", spec["headGroupSpec"]["template"]["spec"]
            for group in spec.get("workerGroupSpecs", []):
                yield f"RayCluster worker group {group['groupName']}", group["template"]["spec"]


def _mount_of(pod: Doc, volume: Callable[[Doc], bool]) -> list[str]:
    """Where the pod's first container mounts the volumes matching ``volume``."""
    names = {v["name"] for v in pod.get("volumes", []) if volume(v)}
    container = pod["containers"][0]
    return [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in names]


def _claim_at(pod: Doc, path: str) -> str | None:
    """The claim whose volume the pod's first container mounts at ``path``."""
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod.get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    mounts = pod["containers"][0].get("volumeMounts", [])
    return next((claims.get(m["name"]) for m in mounts if m["mountPath"] == path), None)


def _env(container: Doc) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env", [])}


def _agent_slots(params: Doc, where: str, errors: list[str]) -> float:
    """The ``agent_slots`` a group's ``rayStartParams.resources`` offers. The value is
    read twice, and both readings must agree: by bash, in the ``ray start --resources=…``
    command KubeRay generates (one shell word holding the JSON), and by Ray's KubeRay
    autoscaler, which drops the first and last character, removes backslashes and wants
    whole numbers."""
    raw = params.get("resources")
    if raw is None:
        return 0.0
    try:
        words = shlex.split(str(raw))
        assert len(words) == 1, f"{len(words)} shell words"
        by_shell = json.loads(words[0])
        by_autoscaler = json.loads(str(raw)[1:-1].replace("\\", ""))
        assert by_shell == by_autoscaler, "bash and the autoscaler read it differently"
        assert all(type(v) is int for v in by_shell.values()), "not whole numbers"
        return float(by_shell.get("agent_slots", 0))
    except (ValueError, AssertionError, AttributeError) as exc:
        errors.append(f"{where}: rayStartParams.resources {raw!r} is not a quoted JSON: {exc}")
        return 0.0


def _under(path: str, mounts: list[str]) -> bool:
    return any(PurePosixPath(path).is_relative_to(m) for m in mounts)


def consistency_errors(directory: Path) -> list[str]:
    errors: list[str] = []
    manifests = load_dir(directory)

    kustomization = load_kustomization(directory)
    listed = set(kustomization.get("resources", []))
    files = {p.name for p in directory.glob("*.yaml")} - {"kustomization.yaml"}
    if listed != files:
        errors.append(
            f"kustomization.yaml resources {sorted(listed)} are not the manifests {sorted(files)}"
        )
    namespace = kustomization.get("namespace")
    for m in manifests:
        own = m.doc.get("metadata", {}).get("namespace")
        if own not in (None, namespace):
            errors.append(f"{m.name}: namespace {own!r}, the kustomization sets {namespace!r}")

    config_map = _only(manifests, "ConfigMap", errors)
    ray = _only(manifests, "RayCluster", errors)
    deployment = _only(manifests, "Deployment", errors)
    service = _only(manifests, "Service", errors)
    policy = _only(manifests, "NetworkPolicy", errors)
    if errors:
        return errors

    text = config_map["data"]["config.yaml"]
    config = parse_config(text, "configmap.yaml config.yaml")
    claims = {
        m.doc["metadata"]["name"]: m.doc
        for m in manifests
        if m.doc["kind"] == "PersistentVolumeClaim"
    }

    # The runs root and the state dir: one shared volume each, at the same path on every
    # pod, where config.yaml and the environment say.
    uid = _image_uid()
    config_name = config_map["metadata"]["name"]
    shared: dict[str, set[str | None]] = {}
    for what, path, var in (
        ("the runs root", config.storage.runs_dir or "", "CONDUCTOR_ROOT"),
        ("the state dir", config.storage.state_dir or "", "CONDUCTOR_STATE_DIR"),
    ):
        for label, pod in pod_specs(manifests):
            claim = _claim_at(pod, path)
            shared.setdefault(what, set()).add(claim)
            value = _env(pod["containers"][0]).get(var)
            if claim is None or value != path:
                errors.append(
                    f"{label}: {what} ({path!r} in config.yaml) is not a claim mounted there "
                    f"(claim {claim}), or {var}={value!r}"
                )
    for what, found in shared.items():
        if len(found) != 1:
            errors.append(f"{what} is not the same claim on every pod: {sorted(map(str, found))}")
        for name in found - {None}:
            modes = claims.get(name, {}).get("spec", {}).get("accessModes", [])
            if "ReadWriteMany" not in modes:
                errors.append(f"{what}'s claim {name} is not ReadWriteMany: every node mounts it")
    if shared.get("the runs root") == shared.get("the state dir"):
        errors.append("the state dir is on the runs root's claim: it must be outside the root")

    for label, pod in pod_specs(manifests):
        env = _env(pod["containers"][0])
        config_dirs = _mount_of(pod, lambda v: v.get("configMap", {}).get("name") == config_name)
        config_path = env.get("CONDUCTOR_CONFIG", "")
        if config_dirs != [str(PurePosixPath(config_path).parent)]:
            errors.append(
                f"{label}: CONDUCTOR_CONFIG={config_path!r} but the config is at {config_dirs}"
            )
        security = pod.get("securityContext", {})
        if security.get("runAsNonRoot") is not True or security.get("runAsUser") != uid:
            errors.append(f"{label}: not run as the image's non-root user {uid}: {security}")
        for c in pod["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False or "ALL" not in sc.get(
                "capabilities", {}
            ).get("drop", []):
                errors.append(f"{label}: container {c['name']} may escalate or keeps capabilities")

    # The server: reachable through the Service, probed on the health route, with its key.
    server_pod = deployment["spec"]["template"]
    server = server_pod["spec"]["containers"][0]
    ports = {p.get("name"): p["containerPort"] for p in server.get("ports", [])}
    if config.api.port not in ports.values():
        errors.append(f"the server listens on {config.api.port}, the container declares {ports}")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = server.get(probe, {}).get("httpGet", {})
        port = ports.get(get.get("port"), get.get("port"))
        if get.get("path") != "/api/v1/health" or port != config.api.port:
            errors.append(f"server {probe} is not GET /api/v1/health on {config.api.port}: {get}")
    labels = server_pod["metadata"]["labels"]
    if not deployment["spec"]["selector"]["matchLabels"].items() <= labels.items():
        errors.append("the Deployment's selector does not match its pods")
    if not service["spec"]["selector"].items() <= labels.items():
        errors.append("the Service's selector does not match the server pods")
    if service["spec"].get("type", "ClusterIP") != "ClusterIP":
        errors.append("the Service is published outside the cluster (type is not ClusterIP)")
    target = service["spec"]["ports"][0]["targetPort"]
    if ports.get(target, target) != config.api.port:
        errors.append(f"the Service targets {target}, the server listens on {config.api.port}")
    if service["metadata"]["name"] not in config.api.allowed_hosts:
        errors.append("api.allowed_hosts lacks the Service's name (its clients' Host header)")
    key_file = config.api.api_key_file or ""
    secret_mounts = _mount_of(server_pod["spec"], lambda v: "secret" in v)
    if not _under(key_file, secret_mounts):
        errors.append(f"api.api_key_file {key_file!r} is not in a Secret mounted on the server")

    # The Ray cluster: slots on the workers only, tokens where the loops run, and the
    # executor pointing at the head's Ray Client port.
    spec = ray["spec"]
    head = spec["headGroupSpec"]
    if _agent_slots(head.get("rayStartParams", {}), "head", errors) != 0:
        errors.append("the Ray head offers agent slots: loops would run on it")
    needed = 1.0
    # Without the Ray executor's config section (an older Config), `executor` is the one
    # unknown section; with it, parse_config above validated it.
    executor = getattr(config, "executor", None)
    if executor is not None:
        needed = float(executor.resources.get("agent_slots", 1))
    elif unknown_keys(read_yaml(text)) != ["executor"]:
        errors.append("config.yaml has unknown sections besides executor")
    for group in spec.get("workerGroupSpecs", []):
        where = f"worker group {group['groupName']}"
        if _agent_slots(group.get("rayStartParams", {}), where, errors) < needed:
            errors.append(f"{where} offers fewer agent slots than one loop needs ({needed:g})")
        pod = group["template"]["spec"]
        tokens = _mount_of(pod, lambda v: "secret" in v)
        for name, agent in config.agents.items():
            if agent.token_file and not _under(agent.token_file, tokens):
                errors.append(f"{where}: agent {name}'s token_file is in no mounted Secret")
    head_svc = f"{ray['metadata']['name']}-head-svc"
    head_ports = {
        p.get("name"): p["containerPort"]
        for p in head["template"]["spec"]["containers"][0].get("ports", [])
    }
    address = f"ray://{head_svc}:{head_ports.get('client')}"
    raw = read_yaml(text).get("executor", {})
    if raw.get("type") != "ray" or raw.get("address") != address:
        errors.append(f"config.yaml executor is {raw}, expected type ray at {address}")
    ray_selector = policy["spec"]["podSelector"].get("matchLabels", {})
    if ray_selector != {"ray.io/cluster": ray["metadata"]["name"]}:
        errors.append(f"the NetworkPolicy selects {ray_selector}, not the RayCluster's pods")
    sources = [
        peer.get("podSelector", {}).get("matchLabels", {})
        for rule in policy["spec"].get("ingress", [])
        for peer in rule.get("from", [])
    ]
    if not any(s and s.items() <= labels.items() for s in sources):
        errors.append("the NetworkPolicy lets the conductor server not reach the Ray head")
    return errors


def all_errors(directory: Path = DEPLOY_DIR) -> list[str]:
    return schema_errors(directory) + consistency_errors(directory)


def copy_with(
    directory: Path, target: Path, file: str, change: Callable[[list[Doc]], None]
) -> Path:
    """A copy of ``directory`` in ``target`` where ``change`` edited ``file``'s objects."""
    target.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.yaml"):
        (target / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    docs = [d for d in yaml.safe_load_all((target / file).read_text(encoding="utf-8")) if d]
    docs = copy.deepcopy(docs)
    change(docs)
    (target / file).write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return target
