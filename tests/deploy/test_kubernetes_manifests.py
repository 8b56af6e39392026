"""The Kubernetes manifests (deploy/kubernetes) validate offline, and a broken one does not.

No cluster and no network: the Kubernetes schemas come with the ``kubernetes-validate``
package, KubeRay's RayCluster schema is checked in (tests/deploy/raycluster-v1.schema.yaml).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.manifests import (
    DEPLOY_DIR,
    Doc,
    all_errors,
    consistency_errors,
    copy_with,
    kubernetes_versions,
    load_dir,
    schema_errors,
)


def test_every_manifest_validates_against_the_schemas() -> None:
    kinds = {m.doc["kind"] for m in load_dir(DEPLOY_DIR)}
    assert kinds == {
        "Namespace",
        "PersistentVolumeClaim",
        "ConfigMap",
        "RayCluster",
        "Deployment",
        "Service",
        "NetworkPolicy",
    }
    assert len(kubernetes_versions()) == 2  # the oldest supported minor and the newest
    assert schema_errors(DEPLOY_DIR) == []


def test_the_manifests_agree_with_each_other_and_the_config() -> None:
    assert consistency_errors(DEPLOY_DIR) == []


def _by_kind(docs: list[Doc], kind: str) -> Doc:
    return next(d for d in docs if d["kind"] == kind)


def _worker(docs: list[Doc]) -> Doc:
    group: Doc = _by_kind(docs, "RayCluster")["spec"]["workerGroupSpecs"][0]
    return group


def _misspell_probe(docs: list[Doc]) -> None:
    container = _by_kind(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")


def _misspell_replicas(docs: list[Doc]) -> None:
    _worker(docs)["replica"] = _worker(docs).pop("replicas")


def _misspell_limits(docs: list[Doc]) -> None:
    resources = _worker(docs)["template"]["spec"]["containers"][0]["resources"]
    resources["limit"] = resources.pop("limits")


def _unquoted_param(docs: list[Doc]) -> None:
    _by_kind(docs, "RayCluster")["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0


def _replicas_as_text(docs: list[Doc]) -> None:
    _by_kind(docs, "Deployment")["spec"]["replicas"] = "two"


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        ("server.yaml", _misspell_probe, "readinesProbe"),
        ("server.yaml", _replicas_as_text, "'two' is not of type 'integer'"),
        ("raycluster.yaml", _misspell_replicas, "'replica' was unexpected"),
        ("raycluster.yaml", _misspell_limits, "'limit' was unexpected"),
        ("raycluster.yaml", _unquoted_param, "0 is not of type 'string'"),
    ],
    ids=["k8s-unknown-field", "k8s-bad-value", "crd-unknown-field", "pod-template", "crd-type"],
)
def test_a_broken_manifest_fails_the_schemas(
    tmp_path: Path, file: str, change: Callable[[list[Doc]], None], expected: str
) -> None:
    broken = copy_with(DEPLOY_DIR, tmp_path / "broken", file, change)
    errors = schema_errors(broken)
    assert errors, "the broken copy validated"
    assert all(file in e for e in errors), errors
    assert any(expected in e for e in errors), errors


def _move_worker_runs(docs: list[Doc]) -> None:
    mounts = _worker(docs)["template"]["spec"]["containers"][0]["volumeMounts"]
    next(m for m in mounts if m["name"] == "runs")["mountPath"] = "/runs"


def _read_write_once(docs: list[Doc]) -> None:
    docs[0]["spec"]["accessModes"] = ["ReadWriteOnce"]


def _state_per_pod(docs: list[Doc]) -> None:
    volumes = _worker(docs)["template"]["spec"]["volumes"]
    next(v for v in volumes if v["name"] == "state").pop("persistentVolumeClaim")
    next(v for v in volumes if v["name"] == "state")["emptyDir"] = {}


def _slots_on_head(docs: list[Doc]) -> None:
    params = _by_kind(docs, "RayCluster")["spec"]["headGroupSpec"]["rayStartParams"]
    params["resources"] = "'{\"agent_slots\": 2}'"


def _unquoted_slots(docs: list[Doc]) -> None:
    _worker(docs)["rayStartParams"]["resources"] = '{"agent_slots": 4}'


def _fractional_slots(docs: list[Doc]) -> None:
    _worker(docs)["rayStartParams"]["resources"] = "'{\"agent_slots\": 1.5}'"


def _root_server(docs: list[Doc]) -> None:
    _by_kind(docs, "Deployment")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0


def _other_executor(docs: list[Doc]) -> None:
    data = docs[0]["data"]
    data["config.yaml"] = data["config.yaml"].replace("conductor-ray-head-svc", "ray-head")


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        ("raycluster.yaml", _move_worker_runs, "worker group agents: the runs root"),
        ("pvc.yaml", _read_write_once, "claim conductor-runs is not ReadWriteMany"),
        ("raycluster.yaml", _state_per_pod, "the state dir is not the same claim on every pod"),
        ("raycluster.yaml", _slots_on_head, "head offers agent slots"),
        ("raycluster.yaml", _unquoted_slots, "is not a quoted JSON"),
        ("raycluster.yaml", _fractional_slots, "not whole numbers"),
        ("server.yaml", _root_server, "non-root user 10001"),
        ("configmap.yaml", _other_executor, "expected type ray at ray://conductor-ray-head-svc"),
    ],
    ids=[
        "runs-path",
        "rwo",
        "state-per-pod",
        "head-slots",
        "slots-unquoted",
        "slots-fraction",
        "root",
        "executor-address",
    ],
)
def test_a_manifest_that_disagrees_fails_the_consistency_check(
    tmp_path: Path, file: str, change: Callable[[list[Doc]], None], expected: str
) -> None:
    broken = copy_with(DEPLOY_DIR, tmp_path / "broken", file, change)
    assert schema_errors(broken) == []  # each of these is valid on its own
    errors = consistency_errors(broken)
    assert any(expected in e for e in errors), errors


def test_the_kustomization_lists_every_manifest(tmp_path: Path) -> None:
    broken = copy_with(DEPLOY_DIR, tmp_path / "broken", "pvc.yaml", lambda docs: None)
    (broken / "extra.yaml").write_text((broken / "pvc.yaml").read_text())
    assert any("kustomization.yaml resources" in e for e in all_errors(broken))
