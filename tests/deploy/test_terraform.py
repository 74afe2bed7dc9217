"""Checks of deploy/terraform that need no cloud account and no network.

* `terraform fmt -check`.
* locals.tf + variables.tf evaluated by the real terraform binary, in a copy
  without providers (so `terraform init` needs no registry): what Terraform will
  apply is compared with the YAML files it reads.
* Static checks: every var./local./resource reference is declared, providers and
  charts are pinned, no environment-specific values.
* `terraform validate` needs the providers from registry.terraform.io, which this
  machine cannot reach (see TF_VALIDATE_SKIP); set TRACEPIPE_TF_VALIDATE=1 where
  it is reachable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy_docs import GRAFANA, K8S, TERRAFORM, k8s_objects

TERRAFORM_BIN = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM_BIN is None, reason="terraform not installed")

# `terraform init -backend=false` on the development machine (no registry access):
TF_VALIDATE_SKIP = (
    "terraform init cannot download the providers here: 'Failed to query available provider "
    "packages: Could not retrieve the list of available versions for provider hashicorp/random: "
    "could not connect to registry.terraform.io: failed to request discovery document: "
    "Get \"https://registry.terraform.io/.well-known/terraform.json\": dial tcp: lookup "
    "registry.terraform.io: no such host'. Set TRACEPIPE_TF_VALIDATE=1 where the registry is reachable."
)

TF_ENV = {
    **os.environ,
    "CHECKPOINT_DISABLE": "1",
    "TF_IN_AUTOMATION": "1",
    "TF_INPUT": "0",
    "TF_CLI_CONFIG_FILE": os.devnull,
}


def tf_files() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(TERRAFORM.glob("*.tf"))}


def strip_comments(hcl: str) -> str:
    out = []
    for line in hcl.splitlines():
        # good enough for this code base: no '#' inside strings except URLs' fragments
        out.append(re.sub(r"(^|\s)(#|//).*$", "", line))
    return "\n".join(out)


def run_tf(args: list[str], cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TERRAFORM_BIN, *args], cwd=cwd, env=TF_ENV, capture_output=True, text=True, timeout=timeout
    )


# ------------------------------------------------------------------ fmt / validate


@needs_terraform
def test_terraform_fmt_check():
    r = run_tf(["fmt", "-check", "-recursive", "-diff", str(TERRAFORM)], cwd=TERRAFORM)
    assert r.returncode == 0, f"terraform fmt -check failed:\n{r.stdout}{r.stderr}"


@needs_terraform
@pytest.mark.skipif(os.environ.get("TRACEPIPE_TF_VALIDATE") != "1", reason=TF_VALIDATE_SKIP)
def test_terraform_validate(tmp_path):
    work = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    (tmp_path / "k8s").symlink_to(K8S)
    (tmp_path / "grafana").symlink_to(GRAFANA)
    r = run_tf(["init", "-backend=false", "-input=false"], cwd=work, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_tf(["validate", "-no-color"], cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------------ locals evaluated by terraform

PROBE = """
output "namespaces" { value = local.namespaces }
output "kafka_manifests" { value = local.kafka_manifests }
output "tracepipe_manifests" { value = local.tracepipe_manifests }
output "kafka_clients" { value = local.kafka_clients }
output "kafka_bootstrap" { value = local.kafka_bootstrap }
output "grafana_values" { value = yamlencode(local.grafana_values) }
output "prometheus_values" { value = yamlencode(local.prometheus_values) }
output "strimzi_values" { value = yamlencode(local.strimzi_values) }
"""

IMAGE = "europe-west1-docker.pkg.dev/example-project/tracepipe/tracepipe:9.9.9"


def provider_free_copy(tmp_path: Path) -> Path:
    work = tmp_path / "terraform"
    work.mkdir()
    for name in ("locals.tf", "variables.tf"):
        shutil.copy(TERRAFORM / name, work / name)
    (work / "probe.tf").write_text(PROBE)
    (tmp_path / "k8s").symlink_to(K8S)
    (tmp_path / "grafana").symlink_to(GRAFANA)
    r = run_tf(["init", "-backend=false", "-input=false", "-no-color"], cwd=work)
    assert r.returncode == 0, r.stdout + r.stderr
    return work


@pytest.fixture(scope="module")
def tf_locals(tmp_path_factory):
    if TERRAFORM_BIN is None:
        pytest.skip("terraform not installed")
    tmp = tmp_path_factory.mktemp("tflocals")
    work = provider_free_copy(tmp)
    state = tmp / "probe.tfstate"
    r = run_tf(
        ["apply", "-auto-approve", "-input=false", "-no-color", f"-state={state}",
         "-var", "project_id=example-project", "-var", f"tracepipe_image={IMAGE}",
         "-var", "trace_parts=3", "-var", "replay_speed=120"],
        cwd=work,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    r = run_tf(["output", "-json", f"-state={state}"], cwd=work)
    assert r.returncode == 0, r.stderr
    return {k: v["value"] for k, v in json.loads(r.stdout).items()}, work


def file_objects(subdir: str) -> dict[str, dict]:
    return {
        f"{d.kind}/{d.namespace or '-'}/{d.name}": d.body
        for d in k8s_objects()
        if d.path.parent == K8S / subdir
    }


def test_terraform_applies_every_kafka_object_unchanged(tf_locals):
    out, _ = tf_locals
    files = file_objects("kafka")
    applied = {k: yaml.safe_load(v) for k, v in out["kafka_manifests"].items()}
    assert applied == files


def test_terraform_applies_tracepipe_objects_with_image_and_settings(tf_locals):
    out, _ = tf_locals
    files = file_objects("tracepipe")
    applied = {k: yaml.safe_load(v) for k, v in out["tracepipe_manifests"].items()}
    assert set(applied) == set(files)
    for key, body in files.items():
        got = applied[key]
        if key == "ConfigMap/tracepipe/tracepipe-replay":
            assert got["data"]["TRACE_PARTS"] == "3"
            assert got["data"]["REPLAY_SPEED"] == "120"
            rest = {k: v for k, v in got["data"].items() if k not in ("TRACE_PARTS", "REPLAY_SPEED")}
            assert rest == {k: v for k, v in body["data"].items() if k not in ("TRACE_PARTS", "REPLAY_SPEED")}
            continue
        text = yaml.safe_dump(body)
        expected = yaml.safe_load(re.sub(r"image: tracepipe:\S+", f"image: {IMAGE}", text))
        assert got == expected, key
    images = re.findall(r"image: (\S+)", "\n".join(out["tracepipe_manifests"].values()))
    assert IMAGE in images and not any(i.startswith("tracepipe:") for i in images)


def test_terraform_namespaces_are_the_yaml_ones(tf_locals):
    out, _ = tf_locals
    yaml_ns = {d.name: d.body["metadata"]["labels"] for d in k8s_objects() if d.kind == "Namespace"}
    assert out["namespaces"] == yaml_ns
    assert set(out["namespaces"]) == {"kafka", "monitoring", "tracepipe", "spark"}
    assert set(out["kafka_clients"].values()) <= set(out["namespaces"])
    assert out["kafka_bootstrap"] == "kafka-cluster-kafka-bootstrap.kafka.svc:9093"


def test_grafana_release_is_provisioned_from_deploy_grafana(tf_locals):
    out, _ = tf_locals
    values = yaml.safe_load(out["grafana_values"])
    ds_file = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    prov_file = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "tracepipe.yaml").read_text())
    assert list(values["datasources"].values()) == [ds_file]
    assert list(values["dashboardProviders"].values()) == [prov_file]
    (key,) = values["dashboardsConfigMaps"]
    assert prov_file["providers"][0]["options"]["path"] == f"/var/lib/grafana/dashboards/{key}"
    var = re.fullmatch(r"\$\{?([A-Z_]+)\}?", ds_file["datasources"][0]["url"]).group(1)
    assert values["env"][var].startswith("http://prometheus-server.monitoring.svc")
    assert values["admin"]["existingSecret"] and values["service"]["type"] == "ClusterIP"
    helm = (TERRAFORM / "helm.tf").read_text()
    assert 'file("${local.grafana_dir}/dashboards/tracepipe.json")' in helm


def test_prometheus_release_has_pushgateway_and_stays_internal(tf_locals):
    out, _ = tf_locals
    values = yaml.safe_load(out["prometheus_values"])
    assert values["prometheus-pushgateway"]["enabled"] is True
    assert values["prometheus-pushgateway"]["service"]["type"] == "ClusterIP"
    assert values["server"]["service"]["type"] == "ClusterIP"
    assert values["alertmanager"]["enabled"] is False
    strimzi = yaml.safe_load(out["strimzi_values"])
    assert strimzi["watchAnyNamespace"] is False


@pytest.mark.parametrize(
    "bad",
    [
        ["-var", "project_id=example-project", "-var", "tracepipe_image=registry.example/tracepipe:latest"],
        ["-var", "project_id=example-project", "-var", "tracepipe_image=registry.example/tracepipe"],
        ["-var", "project_id=Not_A_Project"],
        ["-var", "project_id=example-project", "-var", "trace_parts=0"],
    ],
)
def test_terraform_variable_validation_rejects(tf_locals, bad):
    _, work = tf_locals
    r = run_tf(["plan", "-input=false", "-no-color", "-state=/nonexistent/none.tfstate", *bad], cwd=work)
    assert r.returncode != 0 and "Invalid value for variable" in r.stdout + r.stderr, r.stdout + r.stderr


# ------------------------------------------------------------------ static checks


def test_every_reference_is_declared():
    files = tf_files()
    code = "\n".join(strip_comments(t) for t in files.values())
    variables = set(re.findall(r'^variable "(\w+)"', code, re.M))
    local_names = set()
    for block in re.findall(r"^locals \{(.*?)^\}", code, re.M | re.S):
        local_names |= set(re.findall(r"^  (\w+)\s*=", block, re.M))
    resources = set(re.findall(r'^resource "(\w+)" "(\w+)"', code, re.M))
    datas = set(re.findall(r'^data "(\w+)" "(\w+)"', code, re.M))
    for v in set(re.findall(r"\bvar\.(\w+)", code)):
        assert v in variables, f"var.{v} is not declared"
    for v in set(re.findall(r"\blocal\.(\w+)", code)):
        assert v in local_names, f"local.{v} is not declared"
    types = {t for t, _ in resources}
    for t, n in set(re.findall(r"\b(\w+)\.(\w+)\b", code)):
        if t in types and not n.isdigit():
            assert (t, n) in resources or n in {"id"}, f"{t}.{n} is not declared"
    for t, n in set(re.findall(r"\bdata\.(\w+)\.(\w+)", code)):
        assert (t, n) in datas, f"data.{t}.{n} is not declared"
    # every variable is used somewhere
    for v in variables:
        assert f"var.{v}" in code, f"variable {v} is never used"
    assert "locals.tf" in files
    assert not re.search(r'^(resource|data) "', files["locals.tf"], re.M), "locals.tf must stay provider-free"


def test_providers_and_charts_are_pinned():
    versions = tf_files()["versions.tf"]
    providers = re.findall(r"(\w+)\s*=\s*\{\s*source\s*=\s*\"([^\"]+)\"\s*version\s*=\s*\"([^\"]+)\"", versions)
    names = {n for n, _, _ in providers}
    assert {"google", "kubernetes", "helm", "kubectl", "random", "tls"} <= names
    for name, _, constraint in providers:
        assert re.match(r"~>\s*\d+\.\d+", constraint), f"{name}: {constraint}"
    assert re.search(r'required_version\s*=\s*">=\s*1\.\d+', versions)
    helm = tf_files()["helm.tf"]
    releases = re.findall(r'resource "helm_release" "(\w+)" \{(.*?)^\}', helm, re.M | re.S)
    assert {n for n, _ in releases} == {"strimzi", "prometheus", "grafana"}
    variables = tf_files()["variables.tf"]
    for name, body in releases:
        m = re.search(r"version\s*=\s*var\.(\w+)", body)
        assert m, f"helm_release.{name} has no pinned version"
        default = re.search(rf'variable "{m.group(1)}" \{{.*?default\s*=\s*"([^"]+)"', variables, re.S).group(1)
        assert re.fullmatch(r"\d+\.\d+\.\d+", default), f"{name}: {default}"
    strimzi = re.search(r'variable "strimzi_chart_version" \{.*?default\s*=\s*"([^"]+)"', variables, re.S).group(1)
    major, minor, _ = map(int, strimzi.split("."))
    assert (major, minor) >= (0, 47), "Kafka 4.x (KRaft only) needs Strimzi >= 0.46"


def test_cluster_defaults_and_required_variables():
    v = tf_files()["variables.tf"]

    def block(name):
        return re.search(rf'variable "{name}" \{{(.*?)^\}}', v, re.M | re.S).group(1)

    assert "default" not in block("project_id"), "project_id must be given, never defaulted"
    assert re.search(r"default\s*=\s*3\b", block("node_count"))
    assert re.search(r'default\s*=\s*"e2-standard-2"', block("machine_type"))
    for name in ("region", "zone"):
        assert "default" in block(name)
    gcp = tf_files()["gcp.tf"]
    assert "container.googleapis.com" in gcp
    assert "var.node_count" in gcp and "var.machine_type" in gcp
    assert 'datapath_provider = "ADVANCED_DATAPATH"' in gcp, "NetworkPolicies need Dataplane V2 (or Calico)"
    outputs = tf_files()["outputs.tf"]
    for o in ("get_credentials_command", "artifact_registry", "port_forward_commands", "grafana_admin_password"):
        assert f'output "{o}"' in outputs
    assert re.search(r'output "grafana_admin_password" \{[^}]*sensitive\s*=\s*true', outputs, re.S)


def test_no_public_exposure_or_hard_coded_environment_in_terraform():
    for name, text in tf_files().items():
        code = strip_comments(text)
        assert "LoadBalancer" not in code and "NodePort" not in code, name
        assert not re.search(r'project\s*=\s*"[a-z][a-z0-9-]+"', code), f"{name}: hard-coded project"
        assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", code), f"{name}: IP address"
        assert not re.search(r'"[\w.-]+(/[\w.-]+)+:latest"', code), f"{name}: image :latest"
