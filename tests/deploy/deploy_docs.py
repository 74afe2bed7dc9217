"""Loading the deployment files under deploy/ for the tests in this folder."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
TERRAFORM = DEPLOY / "terraform"
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "tracepipe.json"

YAML_SUFFIXES = {".yaml", ".yml"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

# What tracepipe itself uses (src/wire/mod.rs: DEFAULT_JOB_TOPIC, DEFAULT_TASK_TOPIC,
# DEFAULT_MACHINE_TOPIC, DEFAULT_PARTITIONS); test_manifests checks the source still says so.
TRACEPIPE_DEFAULTS = {
    "job_topic": "job-events",
    "task_topic": "task-events",
    "machine_topic": "machine-events",
    "partitions": 12,
}

KAFKA_CLIENT_USERS = ("tracepipe-replay", "tracepipe-aggregate", "spark", "kafdrop")


@dataclass(frozen=True)
class Doc:
    path: Path
    index: int
    body: Any

    @property
    def kind(self) -> str | None:
        return self.body.get("kind") if isinstance(self.body, dict) else None

    @property
    def name(self) -> str | None:
        return (self.body.get("metadata") or {}).get("name") if isinstance(self.body, dict) else None

    @property
    def namespace(self) -> str | None:
        return (self.body.get("metadata") or {}).get("namespace") if isinstance(self.body, dict) else None

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}#{self.index} {self.kind}/{self.name}"


def is_helm_template(path: Path) -> bool:
    """Helm chart templates are Go templates, not YAML: skip them."""
    if "templates" not in path.parts:
        return False
    return "{{" in path.read_text(encoding="utf-8")


def deploy_files(suffixes: set[str]) -> list[Path]:
    files = []
    for p in sorted(DEPLOY.rglob("*")):
        if not p.is_file() or p.suffix not in suffixes:
            continue
        if any(part in {".terraform", "node_modules", ".venv"} for part in p.parts):
            continue
        files.append(p)
    return files


def yaml_files() -> list[Path]:
    return [p for p in deploy_files(YAML_SUFFIXES) if not is_helm_template(p)]


def json_files() -> list[Path]:
    return deploy_files({".json"})


@functools.lru_cache(maxsize=None)
def load_yaml_file(path: Path) -> tuple[Doc, ...]:
    with path.open(encoding="utf-8") as f:
        bodies = list(yaml.safe_load_all(f))
    return tuple(Doc(path, i, b) for i, b in enumerate(bodies) if b is not None)


@functools.lru_cache(maxsize=None)
def all_docs() -> tuple[Doc, ...]:
    """Every YAML document under deploy/ (Kubernetes objects and config files)."""
    out: list[Doc] = []
    for p in yaml_files():
        out.extend(load_yaml_file(p))
    return tuple(out)


def k8s_objects() -> list[Doc]:
    """Documents that are Kubernetes objects (apiVersion + kind + metadata.name)."""
    return [
        d
        for d in all_docs()
        if isinstance(d.body, dict)
        and "apiVersion" in d.body
        and "kind" in d.body
        and d.kind != "Kustomization"
        and isinstance(d.body.get("metadata"), dict)
        and d.name
    ]


def objects(kind: str, namespace: str | None = None) -> list[Doc]:
    return [d for d in k8s_objects() if d.kind == kind and (namespace is None or d.namespace == namespace)]


def one(kind: str, name: str, namespace: str | None = None) -> Doc:
    found = [d for d in objects(kind, namespace) if d.name == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {[d.where() for d in found]}"
    return found[0]


def pod_template(doc: Doc) -> dict | None:
    """The pod template (metadata + spec) of a workload, or None."""
    spec = doc.body.get("spec") or {}
    if doc.kind in POD_TEMPLATE_KINDS:
        return spec.get("template")
    if doc.kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if doc.kind == "Pod":
        return {"metadata": doc.body.get("metadata") or {}, "spec": spec}
    return None


def workloads() -> list[tuple[Doc, dict]]:
    out = []
    for d in k8s_objects():
        t = pod_template(d)
        if t is not None:
            out.append((d, t))
    return out


def containers(pod_spec: dict) -> Iterator[dict]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod_spec.get(key) or []


def env_map(container: dict) -> dict[str, Any]:
    """env name -> value (str) or valueFrom (dict)."""
    out = {}
    for e in container.get("env") or []:
        out[e["name"]] = e["value"] if "value" in e else e.get("valueFrom")
    return out


_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(value: str, env: dict[str, Any]) -> str:
    """Kubernetes' $(VAR) expansion in command/args, for literal env values."""
    return _VAR_REF.sub(lambda m: env[m.group(1)] if isinstance(env.get(m.group(1)), str) else m.group(0), value)


def expanded_args(container: dict) -> list[str]:
    env = env_map(container)
    return [expand(str(a), env) for a in (container.get("command") or []) + (container.get("args") or [])]


def flag_value(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def kustomization(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
