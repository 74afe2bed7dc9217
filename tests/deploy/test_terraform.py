"""Checks of deploy/terraform that need no cloud account and no network.

* `terraform fmt -check`.
* locals.tf + variables.tf evaluated by the real terraform binary, in a copy
  without providers (so `terraform init` needs no registry): what Terraform will
  apply is compared with the YAML files it reads.
* Static checks: every var./local./resource reference is declared, providers and
  charts are pinned, no environment-specific values.
* `terraform validate` and `terraform test` (mocked providers) wherever the pinned
  providers are installed (registry.terraform.io is unreachable from this project's
  machines and CI; the tests skip and name the missing providers).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy_docs import GRAFANA, K8S, REPO as REPO_ROOT, TERRAFORM, TRACEPIPE_DEFAULTS, k8s_objects

TERRAFORM_BIN = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM_BIN is None, reason="terraform not installed")

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


# ------------------------------------------------------------------ validate and test (providers needed)
#
# `terraform validate` and `terraform test` (tests/*.tftest.hcl, every provider mocked) need the
# provider plugins for their schemas. They come from registry.terraform.io, which this project's
# machines and CI cannot reach; these tests run wherever the pinned versions (.terraform.lock.hcl)
# are installed in a local plugin directory (Terraform's implicit mirrors such as
# ~/.terraform.d/plugins, or TRACEPIPE_TF_PLUGIN_DIR), and otherwise skip naming what is missing.

LOCK_FILE = TERRAFORM / ".terraform.lock.hcl"


def locked_providers() -> dict[str, str]:
    """source address -> version, from the committed lock file."""
    text = LOCK_FILE.read_text(encoding="utf-8")
    return dict(re.findall(r'provider "([^"]+)" \{\s*version\s*=\s*"([^"]+)"', text))


def plugin_dirs() -> list[Path]:
    home = Path.home()
    data = Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share"))
    dirs = [home / ".terraform.d" / "plugins", data / "terraform" / "plugins",
            Path("/usr/local/share/terraform/plugins"), Path("/usr/share/terraform/plugins")]
    if os.environ.get("TRACEPIPE_TF_PLUGIN_DIR"):
        dirs.insert(0, Path(os.environ["TRACEPIPE_TF_PLUGIN_DIR"]))
    return [d for d in dirs if d.is_dir()]


def provider_installed(source: str, version: str) -> bool:
    ptype = source.rsplit("/", 1)[1]
    for d in plugin_dirs():
        unpacked = d / source / version / "linux_amd64"
        if any(unpacked.glob(f"terraform-provider-{ptype}*")):
            return True
        if (d / source / f"terraform-provider-{ptype}_{version}_linux_amd64.zip").exists():
            return True
    return False


def missing_providers() -> list[str]:
    return [f"{s} {v}" for s, v in locked_providers().items() if not provider_installed(s, v)]


@pytest.fixture(scope="module")
def tf_initialised(tmp_path_factory):
    if TERRAFORM_BIN is None:
        pytest.skip("terraform not installed")
    missing = missing_providers()
    if missing:
        pytest.skip(
            "terraform validate / terraform test need the pinned providers, not installed here: "
            + ", ".join(missing)
            + " (registry.terraform.io is unreachable from this machine and CI; see deploy/README.md, "
            "'What was verified')"
        )
    tmp = tmp_path_factory.mktemp("tfinit")
    work = tmp / "terraform"
    # Without the lock file: plugins built from the providers' sources have other checksums than
    # the registry's release packages it records. The versions are compared below instead.
    shutil.copytree(TERRAFORM, work, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl"))
    (tmp / "k8s").symlink_to(K8S)
    (tmp / "grafana").symlink_to(GRAFANA)
    args = ["init", "-backend=false", "-input=false", "-no-color"]
    args += [f"-plugin-dir={d}" for d in plugin_dirs()]
    r = run_tf(args, cwd=work, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    installed = dict(re.findall(r'provider "([^"]+)" \{\s*version\s*=\s*"([^"]+)"',
                                (work / ".terraform.lock.hcl").read_text(encoding="utf-8")))
    assert installed == locked_providers(), f"installed {installed} != locked {locked_providers()}"
    return work


def test_terraform_validate(tf_initialised):
    r = run_tf(["validate", "-no-color"], cwd=tf_initialised)
    assert r.returncode == 0, r.stdout + r.stderr


def test_terraform_test_with_mock_providers(tf_initialised):
    """tests/deploy.tftest.hcl: node pool, network, control-plane endpoint, the Kafka deletion
    stages and the rendered manifests, on the values Terraform would send."""
    r = run_tf(["test", "-no-color"], cwd=tf_initialised, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    m = re.search(r"(\d+) passed, (\d+) failed", out)
    assert m and int(m.group(2)) == 0 and int(m.group(1)) >= 9, out


def test_lock_file_pins_every_provider():
    versions = tf_files()["versions.tf"]
    required = dict(re.findall(r'source\s*=\s*"([^"]+)"\s*version\s*=\s*"([^"]+)"', versions))
    locked = locked_providers()
    lock = LOCK_FILE.read_text(encoding="utf-8")
    assert {f"registry.terraform.io/{s}" for s in required} == set(locked)
    for source, constraint in required.items():
        version = locked[f"registry.terraform.io/{source}"]
        block = re.search(rf'provider "registry.terraform.io/{re.escape(source)}" \{{(.*?)\n\}}', lock, re.S).group(1)
        assert f'constraints = "{constraint}"' in block, f"{source}: lock constraints differ from versions.tf"
        # `~> X.Y` / `~> X.Y.Z`: same leading parts, not below the constraint
        base = constraint.removeprefix("~>").strip().split(".")
        have = version.split(".")
        assert have[: len(base) - 1] == base[:-1] and [int(x) for x in have[: len(base)]] >= [int(x) for x in base], (
            f"{source} {version} does not satisfy {constraint}")
        zh = re.findall(r'"zh:([0-9a-f]+)"', block)
        assert zh and all(len(h) == 64 for h in zh), f"{source}: no release checksums"
    assert locked["registry.terraform.io/hashicorp/google"] == "7.45.0"
    # committed, not ignored
    ignore = (TERRAFORM / ".gitignore").read_text(encoding="utf-8")
    assert ".terraform.lock.hcl" not in ignore
    r = subprocess.run(["git", "check-ignore", "-q", str(LOCK_FILE)], cwd=REPO_ROOT, capture_output=True)
    assert r.returncode == 1, "the lock file is git-ignored"


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
output "kafka_manifest_stages" { value = local.kafka_manifest_stages }
output "kafka_base_manifests" { value = local.kafka_base_manifests }
output "kafka_cluster_manifests" { value = local.kafka_cluster_manifests }
output "kafka_entities_manifests" { value = local.kafka_entities_manifests }
output "monitoring_manifests" { value = local.monitoring_manifests }
output "node_labels" { value = local.node_labels }
"""

# A valid value for the required variable master_authorized_networks (a documentation range).
AUTHORIZED = 'master_authorized_networks=[{cidr_block="192.0.2.0/24",display_name="test"}]'


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
         "-var", "trace_parts=3", "-var", "replay_speed=120", "-var", AUTHORIZED],
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
        # More replicas than Kafka nodes, or a min ISR above the replicas.
        ["-var", "project_id=example-project", "-var", "kafka_nodes=2"],
        ["-var", "project_id=example-project", "-var", "kafka_replication_factor=4"],
        ["-var", "project_id=example-project", "-var", "kafka_min_insync_replicas=4"],
        # The control-plane endpoint is never left open to every address.
        ["-var", "project_id=example-project", "-var", "master_authorized_networks=[]"],
        ["-var", "project_id=example-project",
         "-var", 'master_authorized_networks=[{cidr_block="0.0.0.0/0",display_name="all"}]'],
        ["-var", "project_id=example-project",
         "-var", 'master_authorized_networks=[{cidr_block="office",display_name="office"}]'],
    ],
)
def test_terraform_variable_validation_rejects(tf_locals, bad):
    _, work = tf_locals
    if not any(a.startswith("master_authorized_networks=") for a in bad):
        bad = [*bad, "-var", AUTHORIZED]
    r = run_tf(["plan", "-input=false", "-no-color", "-state=/nonexistent/none.tfstate", *bad], cwd=work)
    assert r.returncode != 0 and "Invalid value for variable" in r.stdout + r.stderr, r.stdout + r.stderr


def test_master_authorized_networks_is_required(tf_locals):
    _, work = tf_locals
    r = run_tf(["plan", "-input=false", "-no-color", "-state=/nonexistent/none.tfstate",
                "-var", "project_id=example-project"], cwd=work)
    assert r.returncode != 0 and "No value for required variable" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "master_authorized_networks" in r.stdout + r.stderr


def test_terraform_applies_every_monitoring_object_unchanged(tf_locals):
    out, _ = tf_locals
    files = file_objects("monitoring")
    applied = {k: yaml.safe_load(v) for k, v in out["monitoring_manifests"].items()}
    assert files and applied == files


def test_kafka_objects_are_staged_for_ordered_deletion(tf_locals):
    """Topics and users, then the cluster, then the rest: each stage its own resource."""
    out, _ = tf_locals
    stages = out["kafka_manifest_stages"]
    assert set(stages) == set(out["kafka_manifests"])
    for key, stage in stages.items():
        kind = key.split("/", 1)[0]
        expected = {"KafkaTopic": "entities", "KafkaUser": "entities", "Kafka": "cluster",
                    "KafkaNodePool": "cluster"}.get(kind, "base")
        assert stage == expected, key
    parts = [out["kafka_base_manifests"], out["kafka_cluster_manifests"], out["kafka_entities_manifests"]]
    assert sum(len(p) for p in parts) == len(out["kafka_manifests"])
    assert {k for p in parts for k in p} == set(out["kafka_manifests"])
    assert any(k.startswith("KafkaTopic/") for k in out["kafka_entities_manifests"])
    # the three topics tracepipe writes, machine-events included, with the replication settings
    # of the variables (defaults: 3 replicas, min.insync.replicas 2)
    topics = {k: yaml.safe_load(v) for k, v in out["kafka_entities_manifests"].items() if k.startswith("KafkaTopic/")}
    names = [TRACEPIPE_DEFAULTS[t] for t in ("job_topic", "task_topic", "machine_topic")]
    assert set(topics) == {f"KafkaTopic/kafka/{n}" for n in names}
    for key, t in topics.items():
        assert t["spec"]["replicas"] == 3 and int(t["spec"]["config"]["min.insync.replicas"]) == 2, key
    assert any(k.startswith("Kafka/") for k in out["kafka_cluster_manifests"])


def reserved_label_key(key: str) -> bool:
    """GKE and the kubelet refuse node labels under kubernetes.io/ and k8s.io/ (subdomains too)."""
    prefix = key.split("/", 1)[0] if "/" in key else ""
    return any(prefix == d or prefix.endswith("." + d) for d in ("kubernetes.io", "k8s.io"))


def test_reserved_label_key_recognises_the_prefixes():
    assert reserved_label_key("app.kubernetes.io/part-of")
    assert reserved_label_key("kubernetes.io/hostname")
    assert reserved_label_key("node.k8s.io/x")
    assert not reserved_label_key("tracepipe.io/part-of")
    assert not reserved_label_key("part-of")
    assert not reserved_label_key("notkubernetes.io/x")


def test_node_labels_have_no_reserved_prefix(tf_locals):
    out, _ = tf_locals
    assert out["node_labels"]
    for key in out["node_labels"]:
        assert not reserved_label_key(key), f"node label {key}: GKE rejects the node pool"


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
        for ip in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", code):
            # RFC 1918 defaults of the VPC's ranges only; never a public address.
            assert ipaddress.ip_address(ip).is_private, f"{name}: IP address {ip}"
        assert not re.search(r'"[\w.-]+(/[\w.-]+)+:latest"', code), f"{name}: image :latest"


# ------------------------------------------------------------------ static checks of the resources
#
# These read the .tf files without providers (they run everywhere); the same properties are
# asserted on the planned values by tests/*.tftest.hcl (test_terraform_test_with_mock_providers)
# where the providers are installed.


def hcl_block(text: str, header: str) -> str:
    """The body of the first block whose header matches `header` (a regex), braces balanced."""
    code = strip_comments(text)
    m = re.search(header + r"\s*\{", code)
    assert m, f"no block {header!r}"
    depth, i = 1, m.end()
    in_str = False
    while depth:
        c = code[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return code[m.end():i - 1]


def resource(kind: str, name: str) -> str:
    files = tf_files()
    for text in files.values():
        if f'resource "{kind}" "{name}"' in text:
            return hcl_block(text, rf'resource "{kind}" "{name}"')
    raise AssertionError(f"resource {kind}.{name} not found")


def depends_on(body: str) -> set[str]:
    m = re.search(r"depends_on\s*=\s*\[(.*?)\]", body, re.S)
    return set(re.findall(r"[\w.]+", m.group(1))) if m else set()


def test_node_pool_labels_come_from_the_checked_map():
    pool = resource("google_container_node_pool", "default")
    node_config = hcl_block(pool, r"node_config")
    assert re.search(r"labels\s*=\s*local\.node_labels\b", node_config), node_config
    for text in tf_files().values():
        for key in re.findall(r'"([\w.-]+/[\w.-]+)"\s*=', strip_comments(text)):
            if "kubernetes.io" in key or "k8s.io" in key:
                # allowed on Kubernetes objects (namespaces, Secrets), never on nodes
                assert "node_config" not in text or key not in node_config, key


def test_resource_manager_api_is_enabled_before_iam():
    gcp = tf_files()["gcp.tf"]
    apis = hcl_block(gcp, r"locals")
    for api in ("cloudresourcemanager.googleapis.com", "container.googleapis.com", "compute.googleapis.com",
                "iam.googleapis.com", "artifactregistry.googleapis.com"):
        assert f'"{api}"' in apis, api
    iam = [m for m in re.findall(r'resource "(google_[\w]*iam_member)" "(\w+)"', gcp)]
    assert iam
    for kind, name in iam:
        body = resource(kind, name)
        deps = depends_on(body)
        # directly, or through the registry repository which depends on the APIs
        assert "google_project_service.apis" in deps or "google_artifact_registry_repository" in body, f"{kind}.{name}"


def test_nodes_are_private_on_their_own_network_with_nat():
    network = resource("google_compute_network", "this")
    assert re.search(r"auto_create_subnetworks\s*=\s*false", network)
    subnet = resource("google_compute_subnetwork", "nodes")
    assert re.search(r"private_ip_google_access\s*=\s*true", subnet)
    assert subnet.count("secondary_ip_range") == 2
    nat = resource("google_compute_router_nat", "nat")
    assert "google_compute_router.nat" in nat
    assert "google_compute_subnetwork.nodes" in nat
    cluster = resource("google_container_cluster", "this")
    assert re.search(r"\bnetwork\s*=\s*google_compute_network\.this\.", cluster), "cluster on the default VPC"
    assert re.search(r"\bsubnetwork\s*=\s*google_compute_subnetwork\.nodes\.", cluster)
    private = hcl_block(cluster, r"private_cluster_config")
    assert re.search(r"enable_private_nodes\s*=\s*true", private)
    assert re.search(r"enable_private_endpoint\s*=\s*var\.enable_private_endpoint", private)
    ip = hcl_block(cluster, r"ip_allocation_policy")
    assert "cluster_secondary_range_name" in ip and "services_secondary_range_name" in ip
    pool = resource("google_container_node_pool", "default")
    # the node pool follows the cluster, which waits for the NAT: no node starts without egress
    assert "google_container_cluster.this" in pool
    assert "google_compute_router_nat.nat" in depends_on(cluster) | depends_on(pool), "nodes would start before their NAT"
    for text in tf_files().values():
        assert not re.search(r'network\s*=\s*"default"', strip_comments(text))


def test_control_plane_endpoint_is_restricted():
    cluster = resource("google_container_cluster", "this")
    # a static block (a dynamic one with an empty list meant "open to every address")
    assert not re.search(r'dynamic\s+"master_authorized_networks_config"', cluster)
    man = hcl_block(cluster, r"master_authorized_networks_config")
    assert re.search(r"gcp_public_cidrs_access_enabled\s*=\s*false", man)
    assert "var.master_authorized_networks" in man
    variables = tf_files()["variables.tf"]
    body = hcl_block(variables, r'variable "master_authorized_networks"')
    assert not re.search(r"^\s*default\s*=", body, re.M), "master_authorized_networks must be required"
    assert "length(var.master_authorized_networks) > 0" in body


def test_kafka_objects_are_deleted_in_order_and_waited_for():
    entities = resource("kubectl_manifest", "kafka_entities")
    cluster = resource("kubectl_manifest", "kafka_cluster")
    base = resource("kubectl_manifest", "kafka_base")
    tracepipe = resource("kubectl_manifest", "tracepipe")
    assert "local.kafka_entities_manifests" in entities
    assert "local.kafka_cluster_manifests" in cluster
    assert "local.kafka_base_manifests" in base
    # destroy runs dependents first: tracepipe -> topics/users -> cluster -> base/operator
    assert "kubectl_manifest.kafka_cluster" in depends_on(entities)
    assert {"helm_release.strimzi", "kubectl_manifest.kafka_base"} <= depends_on(cluster)
    assert "helm_release.strimzi" in depends_on(base)
    assert "kubectl_manifest.kafka_entities" in depends_on(tracepipe)
    # each deletion waits until the object is gone (finalizers done)
    for body in (entities, cluster):
        assert re.search(r"^\s*wait\s*=\s*true", body, re.M), body
    # no resource applies all Kafka objects at once any more
    assert "local.kafka_manifests" not in "\n".join(strip_comments(t) for t in tf_files().values()).replace(
        "local.kafka_manifests :", ""
    ).replace("local.kafka_manifests[", "")
    # Strimzi's chart keeps its NetworkPolicy generation off (k8s/kafka/networkpolicies.yaml)
    assert re.search(r"generateNetworkPolicy\s*=\s*false", tf_files()["locals.tf"])


def test_monitoring_policies_are_applied_by_terraform():
    body = resource("kubectl_manifest", "monitoring")
    assert "local.monitoring_manifests" in body
    assert "helm_release.prometheus" in depends_on(body)
