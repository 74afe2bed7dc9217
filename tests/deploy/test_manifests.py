"""Invariants of the deployment files under deploy/ (Kubernetes YAML, Grafana,
Dockerfile). Pure file checks: no cluster and no cloud account needed.

kubectl, when installed, is used offline only (`kubectl kustomize`).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dashboard import BUILTINS, dashboard_exprs, iter_panels, raw_exprs
from deploy_docs import (
    DASHBOARD,
    DEPLOY,
    GRAFANA,
    K8S,
    KAFKA_CLIENT_USERS,
    REPO,
    TRACEPIPE_DEFAULTS,
    all_docs,
    containers,
    env_map,
    expanded_args,
    flag_value,
    json_files,
    k8s_objects,
    kustomization,
    load_json,
    objects,
    one,
    workloads,
    yaml_files,
)

KAFKA_NS = "kafka"
CLUSTER = "kafka-cluster"
TOPICS = (TRACEPIPE_DEFAULTS["job_topic"], TRACEPIPE_DEFAULTS["task_topic"], TRACEPIPE_DEFAULTS["machine_topic"])
MACHINE_TOPIC = TRACEPIPE_DEFAULTS["machine_topic"]
# The topics each consumer reads: the Spark job reads job and task events only.
CONSUMER_TOPICS = {
    "tracepipe-aggregate": TOPICS,
    "spark": (TRACEPIPE_DEFAULTS["job_topic"], TRACEPIPE_DEFAULTS["task_topic"]),
    "kafdrop": TOPICS,
}
SECURE_AUTH_TYPES = {"scram-sha-512", "tls", "oauth", "custom"}


# ------------------------------------------------------------------ helpers


def kafka_cr() -> dict:
    return one("Kafka", CLUSTER, KAFKA_NS).body


def listeners() -> list[dict]:
    return kafka_cr()["spec"]["kafka"]["listeners"]


def secure_listener_ports() -> set[int]:
    return {
        int(lst["port"])
        for lst in listeners()
        if lst.get("tls") is True and (lst.get("authentication") or {}).get("type") in SECURE_AUTH_TYPES
    }


def bootstrap_hosts() -> set[str]:
    base = f"{CLUSTER}-kafka-bootstrap"
    return {base, f"{base}.{KAFKA_NS}", f"{base}.{KAFKA_NS}.svc", f"{base}.{KAFKA_NS}.svc.cluster.local"}


def acl_ops(user: dict, rtype: str, name: str | None = None) -> set[str]:
    """Operations a KafkaUser is granted on a resource (literal name, prefix, or *)."""
    ops: set[str] = set()
    for acl in (user["spec"].get("authorization") or {}).get("acls") or []:
        res = acl["resource"]
        if res["type"] != rtype:
            continue
        if name is not None:
            rname = res.get("name", "")
            pattern = res.get("patternType", "literal")
            matches = rname == "*" or (pattern == "literal" and rname == name) or (
                pattern == "prefix" and name.startswith(rname)
            )
            if not matches:
                continue
        ops.update(acl.get("operations") or [acl["operation"]])
    return ops


def tracepipe_containers() -> list[tuple[str, dict]]:
    """(where, container) of every container running the tracepipe image as a Kafka client
    (`tracepipe download`, in the replay's init container, talks to the bucket only)."""
    out = []
    for doc, tmpl in workloads():
        for c in containers(tmpl["spec"]):
            if (c.get("args") or [""])[0] == "download":
                continue
            if re.match(r"^([^/]+/)*tracepipe(:|@|$)", c.get("image", "")):
                out.append((doc.where(), c))
    return out


def labels_match(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector or {}).items())


# ------------------------------------------------------------------ parsing


def test_every_yaml_and_json_file_under_deploy_parses():
    ys, js = yaml_files(), json_files()
    assert ys, "no YAML under deploy/"
    assert DASHBOARD in js
    for p in ys:
        with p.open(encoding="utf-8") as f:
            list(yaml.safe_load_all(f))  # raises on invalid YAML
    for p in js:
        load_json(p)


def test_documents_are_kubernetes_objects_or_known_config_files():
    config_files = {
        GRAFANA / "provisioning" / "datasources" / "prometheus.yaml",
        GRAFANA / "provisioning" / "dashboards" / "tracepipe.yaml",
    }
    for d in all_docs():
        if d.path in config_files or d.path.name in ("kustomization.yaml", "values.yaml"):
            continue
        if not str(d.path).startswith(str(K8S)):
            continue
        assert isinstance(d.body, dict) and {"apiVersion", "kind", "metadata"} <= d.body.keys(), d.where()
        assert d.name, d.where()


def test_yaml_documents_are_separated_by_bare_dashes():
    """Terraform splits the files of deploy/k8s on "\\n---\\n" (locals.tf)."""
    for p in yaml_files():
        if not str(p).startswith(str(K8S)):
            continue
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.startswith("---"):
                assert line == "---", f"{p}: document separator must be a bare '---' line, got {line!r}"


def test_k8s_namespaced_objects_declare_their_namespace():
    for d in k8s_objects():
        if not str(d.path).startswith(str(K8S)) or d.kind == "Namespace":
            continue
        assert d.namespace in {"kafka", "tracepipe", "spark", "monitoring"}, d.where()


# ------------------------------------------------------------------ kustomize / terraform wiring


def test_kustomizations_list_every_file_and_only_what_terraform_understands():
    root = kustomization(K8S / "kustomization.yaml")
    assert set(root["resources"]) == {"namespaces.yaml", "kafka", "monitoring", "tracepipe"}
    for sub in ("kafka", "monitoring", "tracepipe"):
        k = kustomization(K8S / sub / "kustomization.yaml")
        # Terraform reads `resources` (and replaces the tracepipe image itself):
        # generators/patches would silently differ between the two paths.
        assert set(k) <= {"apiVersion", "kind", "resources", "images"}, f"{sub}: {set(k)}"
        listed = set(k["resources"])
        on_disk = {p.name for p in (K8S / sub).glob("*.yaml") if p.name != "kustomization.yaml"}
        assert listed == on_disk, f"{sub}/kustomization.yaml resources {listed} != files {on_disk}"
    images = kustomization(K8S / "tracepipe" / "kustomization.yaml")["images"]
    assert [i["name"] for i in images] == ["tracepipe"]
    assert images[0]["newTag"] and images[0]["newTag"] != "latest"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kubectl_kustomize_builds_the_same_objects():
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    built = {(d["kind"], (d["metadata"].get("namespace") or ""), d["metadata"]["name"]) for d in yaml.safe_load_all(out) if d}
    files = {
        (d.kind, d.namespace or "", d.name) for d in k8s_objects() if str(d.path).startswith(str(K8S))
    }
    assert built == files
    images = set(re.findall(r"image: (\S+)", out))
    assert "tracepipe:0.1.0" in images


# ------------------------------------------------------------------ Kafka cluster


def test_kafka_is_kraft_4x_with_node_pool_and_persistent_storage():
    kafka = one("Kafka", CLUSTER, KAFKA_NS).body
    ann = kafka["metadata"].get("annotations") or {}
    assert ann.get("strimzi.io/kraft") == "enabled"
    assert ann.get("strimzi.io/node-pools") == "enabled"
    spec = kafka["spec"]
    assert str(spec["kafka"]["version"]).startswith("4."), spec["kafka"]["version"]
    assert "zookeeper" not in spec
    assert "replicas" not in spec["kafka"] and "storage" not in spec["kafka"], "node pools own replicas/storage"
    assert spec["kafka"]["authorization"]["type"] == "simple"
    assert spec["kafka"]["config"]["auto.create.topics.enable"] is False
    pools = [p for p in objects("KafkaNodePool", KAFKA_NS) if p.body["metadata"]["labels"].get("strimzi.io/cluster") == CLUSTER]
    assert pools
    roles = set()
    for p in pools:
        s = p.body["spec"]
        roles |= set(s["roles"])
        storage = s["storage"]
        volumes = storage.get("volumes", [storage]) if storage["type"] == "jbod" else [storage]
        assert all(v["type"] == "persistent-claim" for v in volumes), p.where()
    assert {"broker", "controller"} <= roles
    brokers = sum(p.body["spec"]["replicas"] for p in pools if "broker" in p.body["spec"]["roles"])
    controllers = sum(p.body["spec"]["replicas"] for p in pools if "controller" in p.body["spec"]["roles"])
    # Three of each: the quorum and min.insync.replicas 2 both survive the loss of one node.
    assert brokers >= 3 and controllers >= 3


def test_kafka_replicates_every_topic_three_times_and_acknowledges_on_two():
    config = one("Kafka", CLUSTER, KAFKA_NS).body["spec"]["kafka"]["config"]
    for key in ["offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "share.coordinator.state.topic.replication.factor", "default.replication.factor"]:
        assert config[key] == 3, key
    for key in ["transaction.state.log.min.isr", "share.coordinator.state.topic.min.isr", "min.insync.replicas"]:
        assert config[key] == 2, key
    assert config["unclean.leader.election.enable"] is False


def test_kafka_pods_have_a_disruption_budget_of_one():
    template = one("Kafka", CLUSTER, KAFKA_NS).body["spec"]["kafka"]["template"]
    assert template["podDisruptionBudget"] == {"maxUnavailable": 1}


def test_every_kafka_listener_has_tls_and_authentication():
    assert listeners(), "no listener"
    for lst in listeners():
        assert lst.get("tls") is True, f"listener {lst['name']} without TLS"
        assert (lst.get("authentication") or {}).get("type") in SECURE_AUTH_TYPES, f"listener {lst['name']} without auth"
    names = {lst["name"] for lst in listeners()}
    assert "plain" not in names
    tls = [lst for lst in listeners() if lst["name"] == "tls"]
    assert tls and tls[0]["port"] == 9093 and tls[0]["type"] == "internal"
    assert tls[0]["authentication"]["type"] == "scram-sha-512"


def test_external_listeners_only_with_tls_and_scram():
    for lst in listeners():
        if lst["type"] in {"loadbalancer", "nodeport", "route", "ingress", "cluster-ip"} and lst["type"] != "internal":
            assert lst.get("tls") is True and lst["authentication"]["type"] == "scram-sha-512", lst


def test_topics_match_tracepipe_defaults():
    topics = {d.name: d.body for d in objects("KafkaTopic", KAFKA_NS)}
    assert set(topics) == set(TOPICS)
    for name, t in topics.items():
        assert t["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
        spec = t["spec"]
        assert spec["partitions"] == TRACEPIPE_DEFAULTS["partitions"], name
        assert spec["replicas"] == 3, name
        assert int(spec["config"]["min.insync.replicas"]) == 2, name
        assert int(spec["config"]["retention.ms"]) == 1209600000, name
        assert int(spec["config"]["segment.bytes"]) == 1073741824, name
        # Retention on append time: 2011 record timestamps would expire at once.
        assert spec["config"]["message.timestamp.type"] == "LogAppendTime", name


def test_tracepipe_source_defaults_agree():
    wire = REPO / "src" / "wire" / "mod.rs"
    if not wire.exists():
        pytest.skip("src/wire/mod.rs not there")
    src = wire.read_text(encoding="utf-8")
    consts = dict(re.findall(r"pub const (DEFAULT_\w+): [^=]+= ([^;]+);", src))
    if not consts:
        pytest.skip("no DEFAULT_* constants in src/wire/mod.rs")
    assert consts.get("DEFAULT_JOB_TOPIC", "").strip('"') == TRACEPIPE_DEFAULTS["job_topic"]
    assert consts.get("DEFAULT_TASK_TOPIC", "").strip('"') == TRACEPIPE_DEFAULTS["task_topic"]
    assert consts.get("DEFAULT_MACHINE_TOPIC", "").strip('"') == TRACEPIPE_DEFAULTS["machine_topic"]
    assert int(consts.get("DEFAULT_PARTITIONS", "0")) == TRACEPIPE_DEFAULTS["partitions"]


# ------------------------------------------------------------------ users and ACLs


def test_one_scram_user_per_client_with_least_privilege_acls():
    users = {d.name: d.body for d in objects("KafkaUser", KAFKA_NS)}
    assert set(KAFKA_CLIENT_USERS) <= set(users)
    for name, u in users.items():
        assert u["metadata"]["labels"]["strimzi.io/cluster"] == CLUSTER
        assert u["spec"]["authentication"]["type"] == "scram-sha-512", name
        assert u["spec"]["authorization"]["type"] == "simple", name
    replay = users["tracepipe-replay"]
    for topic in TOPICS:
        # Read: `replay --resume` reads the tail of every topic it writes, machine-events included
        assert acl_ops(replay, "topic", topic) == {"Write", "Describe", "Read"}, topic
    for name, topics in CONSUMER_TOPICS.items():
        for topic in topics:
            ops = acl_ops(users[name], "topic", topic)
            assert {"Read", "Describe"} <= ops, name
            assert not ops & {"Write", "Create", "Delete", "Alter", "All"}, f"{name} may modify {topic}: {ops}"
        for topic in set(TOPICS) - set(topics):
            assert not acl_ops(users[name], "topic", topic), f"{name} does not read {topic}"
        assert "Read" in acl_ops(users[name], "group"), f"{name} has no group Read"
    assert acl_ops(users["tracepipe-aggregate"], "topic", MACHINE_TOPIC) == {"Read", "Describe"}
    assert acl_ops(users["kafdrop"], "topic", MACHINE_TOPIC) == {"Read", "Describe", "DescribeConfigs"}
    for name, u in users.items():
        for acl in u["spec"]["authorization"]["acls"]:
            assert "All" not in (acl.get("operations") or []), f"{name}: operation All"
            if acl["resource"]["type"] == "topic":
                assert acl["resource"]["name"] in TOPICS, f"{name}: ACL on {acl['resource']['name']}"


def test_aggregate_group_is_covered_by_its_acl():
    users = {d.name: d.body for d in objects("KafkaUser", KAFKA_NS)}
    agg = one("Deployment", "tracepipe-aggregate", "tracepipe")
    c = agg.body["spec"]["template"]["spec"]["containers"][0]
    group = flag_value(expanded_args(c), "--group")
    assert group
    assert "Read" in acl_ops(users["tracepipe-aggregate"], "group", group)


def test_users_with_terraform_passwords_match_terraform_clients():
    tf = (REPO / "deploy" / "terraform" / "locals.tf").read_text(encoding="utf-8")
    block = re.search(r"kafka_clients = \{(.*?)\}", tf, re.S).group(1)
    tf_clients = dict(re.findall(r'"([^"]+)"\s*=\s*"([^"]+)"', block))
    users = {d.name: d.body for d in objects("KafkaUser", KAFKA_NS)}
    with_password = {
        n: u["spec"]["authentication"]["password"]["valueFrom"]["secretKeyRef"]
        for n, u in users.items()
        if "password" in u["spec"]["authentication"]
    }
    assert set(with_password) == set(tf_clients)
    for name, ref in with_password.items():
        assert ref == {"name": f"{name}-scram", "key": "password"}, name
    # The namespaces of the clients that use them
    for where, c in tracepipe_containers():
        env = env_map(c)
        user = env["TRACEPIPE_SASL_USERNAME"]
        assert tf_clients.get(user) == "tracepipe", where


# ------------------------------------------------------------------ clients


def test_bootstrap_addresses_use_a_secure_listener():
    ports = secure_listener_ports()
    assert ports == {9093}
    found = 0
    for doc, tmpl in workloads():
        for c in containers(tmpl["spec"]):
            env = env_map(c)
            candidates = [v for k, v in env.items() if isinstance(v, str) and ("BOOTSTRAP" in k or "BROKERCONNECT" in k or k == "KAFKA_BROKER")]
            b = flag_value(expanded_args(c), "--bootstrap")
            if b:
                candidates.append(b)
            for addr in candidates:
                for server in addr.split(","):
                    host, _, port = server.strip().rpartition(":")
                    assert host in bootstrap_hosts(), f"{doc.where()}: bootstrap host {host}"
                    assert int(port) in ports, f"{doc.where()}: port {port} is not a TLS+SCRAM listener"
                    found += 1
    assert found >= 3, "replay, aggregate and kafdrop should all name the bootstrap"


def test_tracepipe_workloads_use_sasl_ssl_scram_and_the_cluster_ca():
    pods = tracepipe_containers()
    assert {c["args"][0] for _, c in pods} >= {"replay", "aggregate"}
    for where, c in pods:
        env = env_map(c)
        assert env["TRACEPIPE_SECURITY_PROTOCOL"] == "SASL_SSL", where
        assert env["TRACEPIPE_SASL_MECHANISM"] == "SCRAM-SHA-512", where
        user = env["TRACEPIPE_SASL_USERNAME"]
        assert user in KAFKA_CLIENT_USERS, where
        ref = env["TRACEPIPE_SASL_PASSWORD"]["secretKeyRef"]
        assert ref == {"name": user, "key": "password"}, where
        ca_path = Path(env["TRACEPIPE_SSL_CA_LOCATION"])
        mounts = {m["name"]: m for m in c.get("volumeMounts") or []}
        assert any(str(ca_path.parent) == m["mountPath"] for m in mounts.values()), where
    for doc, tmpl in workloads():
        vols = {v["name"]: v for v in tmpl["spec"].get("volumes") or []}
        for c in containers(tmpl["spec"]):
            if "TRACEPIPE_SSL_CA_LOCATION" not in env_map(c):
                continue
            ca_path = Path(env_map(c)["TRACEPIPE_SSL_CA_LOCATION"])
            mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(ca_path.parent))
            secret = vols[mount["name"]]["secret"]
            assert secret["secretName"] == f"{CLUSTER}-cluster-ca-cert", doc.where()
            assert {"key": "ca.crt", "path": ca_path.name} in secret["items"], doc.where()


def test_replay_job_matches_topics_partitions_and_metrics_port():
    job = one("Job", "tracepipe-replay", "tracepipe").body
    tmpl = job["spec"]["template"]
    c = next(c for c in tmpl["spec"]["containers"] if c["name"] == "replay")
    args = expanded_args(c)
    assert args[0] == "replay"
    assert flag_value(args, "--job-topic") == TRACEPIPE_DEFAULTS["job_topic"]
    assert flag_value(args, "--task-topic") == TRACEPIPE_DEFAULTS["task_topic"]
    assert flag_value(args, "--machine-topic") == MACHINE_TOPIC
    assert int(flag_value(args, "--partitions")) == TRACEPIPE_DEFAULTS["partitions"]
    assert flag_value(args, "--metrics-addr") == "0.0.0.0:9465"
    assert flag_value(args, "--speed") == "$(REPLAY_SPEED)" and "REPLAY_SPEED" in env_map(c)
    assert tmpl["metadata"]["annotations"]["prometheus.io/port"] == "9465"
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for flag in ("--jobs", "--tasks", "--machines"):
        d = flag_value(args, flag)
        assert any(d.startswith(p + "/") for p in mounts), f"{flag} {d} not on a volume"
    assert tmpl["spec"]["restartPolicy"] == "Never"
    if job["spec"].get("backoffLimit", 6) > 0:
        # a retried replay must continue, not append the events a second time
        assert "--resume" in args, "a replay retried without --resume duplicates events"
        for topic in TOPICS:
            assert "Read" in acl_ops(one("KafkaUser", "tracepipe-replay", KAFKA_NS).body, "topic", topic), topic


def test_replay_init_container_downloads_the_public_bucket_with_tracepipe():
    job = one("Job", "tracepipe-replay", "tracepipe").body
    init = job["spec"]["template"]["spec"]["initContainers"]
    assert len(init) == 1
    fetch = init[0]
    replay = job["spec"]["template"]["spec"]["containers"][0]
    # the same image as the replay: no Cloud SDK image, no credentials
    assert fetch["image"] == replay["image"]
    assert "cloud-sdk" not in json.dumps(job)
    cfg = one("ConfigMap", "tracepipe-replay", "tracepipe").body["data"]
    assert cfg["TRACE_BASE_URL"] == "https://storage.googleapis.com/clusterdata-2011-2/"
    assert int(cfg["TRACE_PARTS"]) >= 1
    args = fetch["args"]
    assert args[0] == "download"
    flag = lambda a, f: a[a.index(f) + 1]  # noqa: E731
    assert flag(args, "--out") == "/data"
    assert flag(args, "--tables") == "job_events,task_events,machine_events"
    assert flag(args, "--base-url") == "$(TRACE_BASE_URL)"
    # download and replay select the same parts (replay reads only those of the PVC)
    assert flag(args, "--parts") == flag(replay["args"], "--parts") == "$(TRACE_PARTS)"
    assert "--no-progress" in args, "log lines, not a progress bar, in a pod's log"
    for c in (fetch, replay):
        env = env_map(c)
        assert env["TRACE_PARTS"]["configMapKeyRef"] == {"name": "tracepipe-replay", "key": "TRACE_PARTS"}
    assert env_map(fetch)["TRACE_BASE_URL"]["configMapKeyRef"]["key"] == "TRACE_BASE_URL"
    # the init container and the replay see the same volume
    vol = lambda c: {m["name"]: m["mountPath"] for m in c["volumeMounts"]}  # noqa: E731
    assert vol(fetch)["trace-data"] == vol(replay)["trace-data"] == "/data"
    assert flag(replay["args"], "--jobs") == "/data/job_events"
    assert flag(replay["args"], "--tasks") == "/data/task_events"
    # machine_events is one part, fetched whole; the replay reads it up to the end of its --parts
    assert flag(replay["args"], "--machines") == "/data/machine_events"
    assert flag(replay["args"], "--machine-topic") == MACHINE_TOPIC
    pvc = job["spec"]["template"]["spec"]["volumes"]
    claim = next(v for v in pvc if v["name"] == "trace-data")["persistentVolumeClaim"]["claimName"]
    one("PersistentVolumeClaim", claim, "tracepipe")


def test_the_download_arguments_parse_with_the_real_binary(tmp_path):
    """The init container's arguments, with the ConfigMap's values substituted, are accepted by
    `tracepipe download` (checked with --help-free parsing: a bad flag exits 2 at once)."""
    binary = Path(__file__).resolve().parents[2] / "target" / "release" / "tracepipe"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release` (make test does)")
    job = one("Job", "tracepipe-replay", "tracepipe").body
    cfg = one("ConfigMap", "tracepipe-replay", "tracepipe").body["data"]
    args = [a.replace("$(TRACE_PARTS)", cfg["TRACE_PARTS"]).replace("$(TRACE_BASE_URL)", "http://127.0.0.1:9/")
            for a in job["spec"]["template"]["spec"]["initContainers"][0]["args"]]
    args[args.index("--out") + 1] = str(tmp_path)
    r = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60,
                       env={"TRACEPIPE_HTTP_RETRIES": "0", "PATH": "/usr/bin:/bin"})
    # The arguments parse; the (unreachable) bucket is what fails.
    assert r.returncode == 2 and "127.0.0.1:9/SHA256SUM" in r.stderr, r.stderr


def test_the_replay_arguments_parse_with_the_real_binary(tmp_path):
    """The replay container's arguments (three tables, the machine topic included), with the
    ConfigMap's values substituted, are accepted by `tracepipe replay`: it gets past argument
    parsing and fails on the (empty) trace folder, before any connection to Kafka."""
    binary = Path(__file__).resolve().parents[2] / "target" / "release" / "tracepipe"
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `cargo build --release` (make test does)")
    job = one("Job", "tracepipe-replay", "tracepipe").body
    cfg = one("ConfigMap", "tracepipe-replay", "tracepipe").body["data"]
    replay = next(c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == "replay")
    subst = {"$(TRACE_PARTS)": cfg["TRACE_PARTS"], "$(REPLAY_SPEED)": cfg["REPLAY_SPEED"],
             "$(KAFKA_BOOTSTRAP)": "127.0.0.1:9"}
    args = [subst.get(a, a) for a in replay["args"]]
    for f in ("--jobs", "--tasks", "--machines"):
        i = args.index(f) + 1
        args[i] = str(tmp_path / Path(args[i]).name)
    args[args.index("--metrics-addr") + 1] = "127.0.0.1:0"
    assert not [a for a in args if "$(" in a], args
    r = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60,
                       env={"PATH": "/usr/bin:/bin"})
    # Parsed (clap would print a usage line); the missing trace folder is what fails.
    assert r.returncode != 0 and "Usage:" not in r.stderr, r.stderr
    assert any(str(tmp_path / t) in r.stderr for t in ("job_events", "task_events", "machine_events")), r.stderr


def test_aggregate_deployment_and_service_agree_on_9464():
    dep = one("Deployment", "tracepipe-aggregate", "tracepipe").body
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    tmpl = dep["spec"]["template"]
    c = tmpl["spec"]["containers"][0]
    args = expanded_args(c)
    assert args[0] == "aggregate" and "--follow" in args
    # the machine topic is never read by default: the aggregator names it (capacity per machine)
    assert flag_value(args, "--machine-topic") == MACHINE_TOPIC
    assert flag_value(args, "--metrics-addr") == "0.0.0.0:9464"
    assert tmpl["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert tmpl["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    svc = one("Service", "tracepipe-aggregate", "tracepipe").body
    (sp,) = svc["spec"]["ports"]
    assert sp["port"] == 9464 and ports[sp["targetPort"]] == 9464


def test_kafdrop_is_pinned_and_connects_with_sasl_ssl():
    dep = one("Deployment", "kafdrop", KAFKA_NS).body
    spec = dep["spec"]["template"]["spec"]
    main = next(c for c in spec["containers"] if c["name"] == "kafdrop")
    assert re.fullmatch(r"obsidiandynamics/kafdrop:\d+\.\d+\.\d+", main["image"])
    env = env_map(main)
    props_file = env["KAFKA_PROPERTIES_FILE"]
    init = spec["initContainers"][0]
    script = " ".join(init["command"])
    assert props_file in script
    for line in ("security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", "ssl.truststore.type=PEM"):
        assert line in script
    truststore = re.search(r"ssl\.truststore\.location=(\S+?)'", script).group(1)
    assert env_map(init)["SASL_JAAS_CONFIG"]["secretKeyRef"] == {"name": "kafdrop", "key": "sasl.jaas.config"}
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    # kafdrop.sh deletes KAFKA_PROPERTIES_FILE unless it cannot: the mount must be read-only.
    assert mounts[str(Path(props_file).parent)]["readOnly"] is True
    assert str(Path(truststore).parent) in mounts
    svc = one("Service", "kafdrop", KAFKA_NS).body
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"


# ------------------------------------------------------------------ generic workload invariants


def test_workload_selectors_match_their_template_labels():
    assert workloads()
    for doc, tmpl in workloads():
        labels = (tmpl.get("metadata") or {}).get("labels") or {}
        selector = (doc.body["spec"].get("selector") or {})
        if doc.kind == "Job" and not selector:
            continue  # generated by the Job controller
        match = selector.get("matchLabels") or {}
        assert match or selector.get("matchExpressions"), f"{doc.where()}: empty selector"
        assert labels_match(match, labels), f"{doc.where()}: selector {match} vs labels {labels}"
        for expr in selector.get("matchExpressions") or []:
            if expr["operator"] == "In":
                assert labels.get(expr["key"]) in expr["values"], doc.where()


def test_services_select_pods_that_exist():
    for svc in objects("Service"):
        sel = svc.body["spec"].get("selector")
        if not sel:
            continue
        pods = [
            (t.get("metadata") or {}).get("labels") or {}
            for d, t in workloads()
            if d.namespace == svc.namespace
        ]
        assert any(labels_match(sel, p) for p in pods), f"{svc.where()}: no pod template matches {sel}"


def test_every_container_image_is_pinned():
    seen = 0
    for doc, tmpl in workloads():
        for c in containers(tmpl["spec"]):
            image = c.get("image", "")
            seen += 1
            last = image.rsplit("/", 1)[-1]
            assert "@sha256:" in image or ":" in last, f"{doc.where()}: {c['name']} image {image!r} has no tag"
            tag = last.split("@")[0].split(":", 1)[1] if ":" in last.split("@")[0] else ""
            assert tag != "latest", f"{doc.where()}: {image} uses :latest"
    assert seen >= 5


def test_no_loadbalancer_or_nodeport_services():
    for svc in objects("Service"):
        t = svc.body["spec"].get("type", "ClusterIP")
        # A public Service is only acceptable for a TLS + authenticated endpoint,
        # which must say so; none of ours is public.
        assert t == "ClusterIP" or svc.body["metadata"].get("annotations", {}).get(
            "tracepipe.io/tls-authenticated"
        ) == "true", f"{svc.where()}: type {t}"


def test_pods_run_as_non_root_with_read_only_root_and_resources():
    checked = 0
    for doc, tmpl in workloads():
        if doc.namespace not in {"tracepipe", KAFKA_NS}:
            continue
        pod_sc = tmpl["spec"].get("securityContext") or {}
        assert pod_sc.get("runAsNonRoot") is True, doc.where()
        assert (pod_sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", doc.where()
        assert tmpl["spec"].get("automountServiceAccountToken") is False, doc.where()
        for c in containers(tmpl["spec"]):
            sc = c.get("securityContext") or {}
            assert sc.get("readOnlyRootFilesystem") is True, f"{doc.where()} {c['name']}"
            assert sc.get("allowPrivilegeEscalation") is False, f"{doc.where()} {c['name']}"
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{doc.where()} {c['name']}"
            res = c.get("resources") or {}
            assert {"cpu", "memory"} <= set(res.get("requests") or {}), f"{doc.where()} {c['name']}"
            assert "memory" in (res.get("limits") or {}), f"{doc.where()} {c['name']}"
            checked += 1
    assert checked >= 5


def test_no_secret_values_in_manifests():
    assert not objects("Secret"), "Secrets are created by Terraform, never committed"

    def walk(node, where):
        if isinstance(node, dict):
            name = str(node.get("name", ""))
            if re.search(r"(?i)password|secret|token", name) and "value" in node:
                raise AssertionError(f"{where}: env {name} has a literal value")
            for k, v in node.items():
                if re.search(r"(?i)password", str(k)) and isinstance(v, (str, int)) and v != "":
                    raise AssertionError(f"{where}: {k} has a literal value")
                walk(v, where)
        elif isinstance(node, list):
            for v in node:
                walk(v, where)

    for d in all_docs():
        walk(d.body, d.where())


# ------------------------------------------------------------------ network policies


def test_kafka_namespace_has_default_deny_and_scoped_allow_rules():
    nps = objects("NetworkPolicy", KAFKA_NS)
    assert nps, "no NetworkPolicy in the kafka namespace"
    deny = [n for n in nps if n.body["spec"]["podSelector"] == {} and "Ingress" in n.body["spec"]["policyTypes"] and not n.body["spec"].get("ingress")]
    assert deny, "no default-deny ingress policy in kafka"
    allowed_namespaces = {"tracepipe", "spark", "monitoring"}
    client_ports: dict[int, list] = {}
    for n in nps:
        for rule in n.body["spec"].get("ingress") or []:
            peers = rule.get("from")
            assert peers, f"{n.where()}: a rule without `from` admits every source"
            for peer in peers:
                ns_sel = peer.get("namespaceSelector")
                if ns_sel is not None:
                    ns = (ns_sel.get("matchLabels") or {}).get("kubernetes.io/metadata.name")
                    assert ns in allowed_namespaces, f"{n.where()}: namespaceSelector {ns_sel}"
                else:
                    assert peer.get("podSelector"), f"{n.where()}: peer {peer} is too broad"
            for p in rule.get("ports") or []:
                client_ports.setdefault(int(p["port"]), []).extend(peers)
    # The client listener admits exactly tracepipe, spark and Kafdrop; metrics only Prometheus.
    peers_9093 = client_ports.get(9093, [])
    ns_9093 = {(p.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") for p in peers_9093}
    assert ns_9093 - {None} == {"tracepipe", "spark"}
    assert any((p.get("podSelector") or {}).get("matchLabels", {}).get("app.kubernetes.io/name") == "kafdrop" for p in peers_9093)
    peers_9404 = client_ports.get(9404, [])
    assert peers_9404 and all(
        (p.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring"
        for p in peers_9404
    )
    # Strimzi's own generated policy for the listener admits the same peers.
    tls = next(lst for lst in listeners() if lst["name"] == "tls")
    assert sorted(map(str, tls["networkPolicyPeers"])) == sorted(map(str, [p for p in peers_9093]))


def test_kafka_networkpolicies_select_the_kafdrop_and_client_pods_that_exist():
    kafdrop = one("Deployment", "kafdrop", KAFKA_NS).body["spec"]["template"]["metadata"]["labels"]
    assert kafdrop.get("app.kubernetes.io/name") == "kafdrop"
    ns_names = {d.name for d in objects("Namespace")}
    assert {"kafka", "tracepipe", "spark", "monitoring"} <= ns_names
    for d in objects("Namespace"):
        # namespaceSelector uses the automatic kubernetes.io/metadata.name label
        assert d.name == d.name.lower()


def admitted(namespace: str, target_labels: dict, port: int, peer_ns: str, peer_labels: dict) -> bool:
    """Would the NetworkPolicies of `namespace` admit a connection to a pod with `target_labels`
    on `port` from a pod with `peer_labels` in `peer_ns`? (Kubernetes semantics: policies
    selecting the pod add up; a pod selected by none is open.)"""
    nps = [n.body["spec"] for n in objects("NetworkPolicy", namespace)]
    selecting = [np for np in nps if "Ingress" in np.get("policyTypes", ["Ingress"])
                 and labels_match((np["podSelector"] or {}).get("matchLabels") or {}, target_labels)]
    if not selecting:
        return True
    for np in selecting:
        for rule in np.get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(int(p["port"]) == port for p in ports):
                continue
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                ns_sel = peer.get("namespaceSelector")
                pod_sel = peer.get("podSelector")
                if "ipBlock" in peer:
                    continue
                if ns_sel is None:
                    ns_ok = peer_ns == namespace
                else:
                    ns_ok = labels_match(ns_sel.get("matchLabels") or {}, {"kubernetes.io/metadata.name": peer_ns})
                pod_ok = pod_sel is None or labels_match(pod_sel.get("matchLabels") or {}, peer_labels)
                if ns_ok and pod_ok:
                    return True
    return False


# Pod labels as Strimzi 0.48 and the pinned charts set them (KafkaCluster/EntityOperator
# models, the cluster operator Deployment of the strimzi-kafka-operator chart, the prometheus,
# prometheus-pushgateway, kube-state-metrics and grafana charts).
KAFKA_NODE = {"strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka", "strimzi.io/name": f"{CLUSTER}-kafka",
              "strimzi.io/pool-name": "dual-role"}
ENTITY_OPERATOR = {"strimzi.io/cluster": CLUSTER, "strimzi.io/kind": "Kafka", "strimzi.io/name": f"{CLUSTER}-entity-operator"}
CLUSTER_OPERATOR = {"name": "strimzi-cluster-operator", "strimzi.io/kind": "cluster-operator"}
KAFDROP = {"app.kubernetes.io/name": "kafdrop", "app.kubernetes.io/part-of": "tracepipe"}
PROMETHEUS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/component": "server",
              "app.kubernetes.io/instance": "prometheus"}
PUSHGATEWAY = {"app.kubernetes.io/name": "prometheus-pushgateway", "app.kubernetes.io/instance": "prometheus"}
KSM = {"app.kubernetes.io/name": "kube-state-metrics", "app.kubernetes.io/instance": "prometheus"}
GRAFANA_POD = {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/instance": "grafana"}
ANY_POD = {"app": "something-else"}


def test_admitted_follows_networkpolicy_semantics():
    # the checker itself: an unselected namespace is open, default-deny closes it
    assert admitted("nonexistent", {}, 80, "default", {})
    assert not admitted(KAFKA_NS, KAFDROP, 9000, "default", ANY_POD)


def test_kafka_networkpolicies_are_the_complete_set():
    """Strimzi's generated policies are off, so ours must admit what the operators need
    (else the cluster stops working) and nothing more (else the policy says nothing)."""
    need = [  # (port, peer namespace, peer labels) that must reach the Kafka nodes
        (9090, KAFKA_NS, KAFKA_NODE), (9090, KAFKA_NS, CLUSTER_OPERATOR),
        (9091, KAFKA_NS, KAFKA_NODE), (9091, KAFKA_NS, CLUSTER_OPERATOR), (9091, KAFKA_NS, ENTITY_OPERATOR),
        (8443, KAFKA_NS, CLUSTER_OPERATOR),
        (9093, "tracepipe", ANY_POD), (9093, "spark", ANY_POD), (9093, KAFKA_NS, KAFDROP),
        (9404, "monitoring", PROMETHEUS),
    ]
    for port, ns, labels in need:
        assert admitted(KAFKA_NS, KAFKA_NODE, port, ns, labels), (port, ns, labels)
    deny = [
        (9404, "monitoring", GRAFANA_POD), (9404, "default", ANY_POD), (9404, "tracepipe", ANY_POD),
        (9404, KAFKA_NS, KAFDROP),
        (9093, "default", ANY_POD), (9093, "monitoring", GRAFANA_POD),
        (9090, KAFKA_NS, KAFDROP), (9091, KAFKA_NS, KAFDROP), (9091, "tracepipe", ANY_POD),
        (8443, KAFKA_NS, ENTITY_OPERATOR), (8443, KAFKA_NS, KAFKA_NODE),
    ]
    for port, ns, labels in deny:
        assert not admitted(KAFKA_NS, KAFKA_NODE, port, ns, labels), (port, ns, labels)
    for target in (ENTITY_OPERATOR, CLUSTER_OPERATOR, KAFDROP):
        for port in (8080, 8081, 9000, 9404):
            assert not admitted(KAFKA_NS, target, port, "default", ANY_POD), (target, port)
    # and Strimzi must not add its own policy on top (it opens 9404 to every source)
    locals_tf = (DEPLOY / "terraform" / "locals.tf").read_text(encoding="utf-8")
    assert re.search(r"generateNetworkPolicy\s*=\s*false", locals_tf)
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "generateNetworkPolicy=false" in readme, "the kubectl path must install Strimzi the same way"


def test_monitoring_namespace_admits_exactly_its_clients():
    nps = objects("NetworkPolicy", "monitoring")
    assert any(n.body["spec"]["podSelector"] == {} and not n.body["spec"].get("ingress") for n in nps), \
        "no default-deny ingress policy in monitoring"
    allow = [
        (PROMETHEUS, 9090, "monitoring", GRAFANA_POD),
        (PUSHGATEWAY, 9091, "spark", ANY_POD),
        (PUSHGATEWAY, 9091, "tracepipe", ANY_POD),
        (PUSHGATEWAY, 9091, "monitoring", PROMETHEUS),
        (KSM, 8080, "monitoring", PROMETHEUS),
    ]
    for target, port, ns, peer in allow:
        assert admitted("monitoring", target, port, ns, peer), (target, port, ns, peer)
    deny = [
        (PROMETHEUS, 9090, "default", ANY_POD), (PROMETHEUS, 9090, "spark", ANY_POD),
        (PROMETHEUS, 9090, "kafka", KAFDROP), (PROMETHEUS, 9090, "monitoring", PUSHGATEWAY),
        (PUSHGATEWAY, 9091, "default", ANY_POD), (PUSHGATEWAY, 9091, "kafka", KAFDROP),
        (PUSHGATEWAY, 9091, "monitoring", GRAFANA_POD),
        (KSM, 8080, "default", ANY_POD), (KSM, 8080, "monitoring", GRAFANA_POD),
        (GRAFANA_POD, 3000, "default", ANY_POD), (GRAFANA_POD, 3000, "tracepipe", ANY_POD),
    ]
    for target, port, ns, peer in deny:
        assert not admitted("monitoring", target, port, ns, peer), (target, port, ns, peer)


def test_spark_namespace_admits_only_its_pods_and_prometheus():
    driver = {"app.kubernetes.io/name": "tracepipe-spark", "app.kubernetes.io/component": "driver"}
    assert admitted("spark", driver, 4040, "monitoring", PROMETHEUS)
    assert admitted("spark", driver, 7078, "spark", {"app.kubernetes.io/component": "executor"})
    for ns, peer in (("monitoring", GRAFANA_POD), ("monitoring", PUSHGATEWAY), ("default", ANY_POD),
                     ("tracepipe", ANY_POD)):
        assert not admitted("spark", driver, 4040, ns, peer), (ns, peer)


def test_kafdrop_exposes_only_the_health_endpoint():
    dep = one("Deployment", "kafdrop", KAFKA_NS).body
    main = next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "kafdrop")
    env = env_map(main)
    # Kafdrop's application.yml sets management.endpoints.web.exposure.include: "*"
    # (heapdump included: the heap holds the SASL password); the environment overrides it.
    assert env.get("MANAGEMENT_ENDPOINTS_WEB_EXPOSURE_INCLUDE") == "health"
    assert env.get("MANAGEMENT_ENDPOINTS_JMX_EXPOSURE_EXCLUDE") == "*"
    assert "--management.endpoints.web.exposure.include" not in str(env.get("CMD_ARGS", ""))
    assert main["readinessProbe"]["httpGet"]["path"] == "/actuator/health"


def test_kafka_user_acls_are_what_kafka_4_needs():
    users = {d.name: d.body for d in objects("KafkaUser", KAFKA_NS)}
    replay = users["tracepipe-replay"]
    for topic in TOPICS:
        # topics are KafkaTopic resources: the replayer never needs to create them
        assert "Create" not in acl_ops(replay, "topic", topic), topic
    for name, u in users.items():
        cluster_ops = acl_ops(u, "cluster")
        # Kafka >= 3 idempotent producers need Write on the topic only
        assert "IdempotentWrite" not in cluster_ops, name
        assert cluster_ops <= {"Describe"}, f"{name}: cluster operations {cluster_ops}"
        if name != "kafdrop":
            assert not cluster_ops, f"{name}: cluster operations {cluster_ops}"


def test_kafka_nodes_are_spread_over_vms():
    for pool in objects("KafkaNodePool", KAFKA_NS):
        pod = ((pool.body["spec"].get("template") or {}).get("pod") or {})
        spread = [
            c for c in pod.get("topologySpreadConstraints") or []
            if c["topologyKey"] == "kubernetes.io/hostname" and c["whenUnsatisfiable"] == "DoNotSchedule"
            and c["maxSkew"] == 1
        ]
        anti = [
            t for t in ((pod.get("affinity") or {}).get("podAntiAffinity") or {}).get(
                "requiredDuringSchedulingIgnoredDuringExecution") or []
            if t["topologyKey"] == "kubernetes.io/hostname"
        ]
        assert spread or anti, f"{pool.where()}: Kafka nodes may all land on one VM"
        pod_labels = {**KAFKA_NODE, "strimzi.io/pool-name": pool.name}
        for c in spread:
            assert labels_match(c["labelSelector"]["matchLabels"], pod_labels), c


def test_readme_says_how_to_upgrade_strimzi_crds():
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert re.search(r"Helm (never|does not) (upgrade|update)s? CRDs", readme, re.I), "CRD upgrade note missing"
    assert "strimzi-crds-" in readme and "kubectl replace" in readme


def test_tracepipe_namespace_only_admits_prometheus_on_metrics_ports():
    nps = objects("NetworkPolicy", "tracepipe")
    assert any(n.body["spec"]["podSelector"] == {} and not n.body["spec"].get("ingress") for n in nps)
    ports = set()
    for n in nps:
        for rule in n.body["spec"].get("ingress") or []:
            for peer in rule["from"]:
                assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "monitoring"
            ports |= {int(p["port"]) for p in rule["ports"]}
    assert ports == {9464, 9465}


def egress_allowed(namespace: str, pod_labels: dict, port: int, *, to_ns: str | None = None,
                   to_labels: dict | None = None, ip: str | None = None) -> bool:
    """Would the egress NetworkPolicies of `namespace` let a pod with `pod_labels` connect on
    `port` to a pod (`to_ns`, `to_labels`) or to an address `ip`? (Policies selecting the pod
    add up; a pod selected by no egress policy may go anywhere.)"""
    import ipaddress

    nps = [n.body["spec"] for n in objects("NetworkPolicy", namespace)]
    selecting = [np for np in nps if "Egress" in np.get("policyTypes", [])
                 and labels_match((np["podSelector"] or {}).get("matchLabels") or {}, pod_labels)]
    if not selecting:
        return True
    for np in selecting:
        for rule in np.get("egress") or []:
            ports = rule.get("ports")
            if ports and not any(int(p["port"]) == port for p in ports):
                continue
            peers = rule.get("to")
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer:
                    if ip is None:
                        continue
                    block = peer["ipBlock"]
                    addr = ipaddress.ip_address(ip)
                    if addr in ipaddress.ip_network(block["cidr"]) and not any(
                        addr in ipaddress.ip_network(e) for e in block.get("except", [])
                    ):
                        return True
                    continue
                if to_ns is None:
                    continue
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                ns_ok = (to_ns == namespace) if ns_sel is None else labels_match(
                    ns_sel.get("matchLabels") or {}, {"kubernetes.io/metadata.name": to_ns})
                pod_ok = pod_sel is None or labels_match(pod_sel.get("matchLabels") or {}, to_labels or {})
                if ns_ok and pod_ok:
                    return True
    return False


def test_only_the_replay_pod_reaches_the_internet():
    replay = one("Job", "tracepipe-replay", "tracepipe").body["spec"]["template"]["metadata"]["labels"]
    aggregate = one("Deployment", "tracepipe-aggregate", "tracepipe").body["spec"]["template"]["metadata"]["labels"]
    gcs = "142.250.74.27"  # an address of storage.googleapis.com
    kube_dns = {"k8s-app": "kube-dns"}
    assert egress_allowed("tracepipe", replay, 443, ip=gcs)
    assert not egress_allowed("tracepipe", aggregate, 443, ip=gcs)
    assert not egress_allowed("tracepipe", replay, 80, ip=gcs)
    for private in ("10.0.0.1", "169.254.169.254", "192.168.1.1", "172.16.0.1"):
        assert not egress_allowed("tracepipe", replay, 443, ip=private), private
    for pod in (replay, aggregate):
        assert egress_allowed("tracepipe", pod, 9093, to_ns=KAFKA_NS, to_labels=KAFKA_NODE)
        assert not egress_allowed("tracepipe", pod, 9091, to_ns=KAFKA_NS, to_labels=KAFKA_NODE)
        assert egress_allowed("tracepipe", pod, 53, to_ns="kube-system", to_labels=kube_dns)
        assert not egress_allowed("tracepipe", pod, 9093, to_ns="default", to_labels=ANY_POD)


# ------------------------------------------------------------------ Grafana


def dashboard() -> dict:
    return load_json(DASHBOARD)


def test_dashboard_uses_a_datasource_variable_and_no_hard_coded_uid():
    d = dashboard()
    variables = {v["name"]: v for v in d["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("datasource"), dict):
                refs.append(node["datasource"])
            elif isinstance(node.get("datasource"), str):
                refs.append({"uid": node["datasource"]})
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in d.items() if k != "annotations"})
    assert refs
    for r in refs:
        assert r.get("uid") in ("${datasource}", "$datasource"), f"hard-coded datasource {r}"
        assert r.get("type", "prometheus") == "prometheus"


def test_every_panel_has_a_target_expr():
    panels = [p for p in iter_panels(dashboard()["panels"]) if p.get("type") != "row"]
    assert len(panels) >= 8
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in panels:
        exprs = [t.get("expr", "").strip() for t in p.get("targets") or []]
        assert exprs and all(exprs), f"panel {p['title']!r} has a target without expr"
        refids = [t["refId"] for t in p["targets"]]
        assert len(refids) == len(set(refids)), p["title"]
        gp = p["gridPos"]
        assert 0 <= gp["x"] and gp["x"] + gp["w"] <= 24, p["title"]


REQUIRED_EXPRS = {
    "tracepipe_cell_allocated_cpu_ratio",
    "tracepipe_cell_allocated_memory_ratio",
    "tracepipe_cell_running_tasks",
    "tracepipe_cell_pending_tasks",
    "topk(10, tracepipe_machine_allocated_cpu_ratio)",
    'tracepipe_machine_window_cpu_request_sum_ratio{machine_id=~"$machine"}',
    'tracepipe_machine_window_memory_request_sum_ratio{machine_id=~"$machine"}',
    'total_cpu_usage{job="spark_job_metrics"}',
    'total_memory_usage{job="spark_job_metrics"}',
    'tracepipe_cell_window_task_events{event_type=~"EVICT|FAIL"}',
    "sum by (table) (rate(tracepipe_events_total[1m]))",
    "sum by (topic) (rate(tracepipe_replay_events_sent_total[1m]))",
    "tracepipe_replay_trace_time_unix_seconds * 1000",
    "tracepipe_aggregate_event_time_unix_seconds * 1000",
    "tracepipe_aggregate_release_lag_seconds",
}


def test_dashboard_has_the_contract_queries_and_settings():
    d = dashboard()
    assert d["refresh"] == "5s"
    assert REQUIRED_EXPRS <= set(raw_exprs(d))
    machine = {v["name"]: v for v in d["templating"]["list"]}["machine"]
    assert machine["multi"] is True and machine["includeAll"] is True
    q = machine["query"]["query"] if isinstance(machine["query"], dict) else machine["query"]
    assert q == "label_values(tracepipe_machine_window_cpu_request_sum_ratio, machine_id)"
    assert machine["datasource"]["uid"] == "${datasource}"
    for p in iter_panels(d["panels"]):
        for t in p.get("targets") or []:
            if "machine_id" in t["expr"] and "window" in t["expr"] or "topk" in t["expr"]:
                assert t["legendFormat"] == "Machine ID = {{machine_id}}", p["title"]
            if "_unix_seconds * 1000" in t["expr"]:
                assert p["fieldConfig"]["defaults"]["unit"] == "dateTimeAsIso", p["title"]


def test_dashboard_exprs_are_standalone_promql():
    exprs = dashboard_exprs(DASHBOARD)
    assert len(exprs) == len(raw_exprs(dashboard()))
    assert 'tracepipe_machine_window_cpu_request_sum_ratio{machine_id=~".*"}' in exprs
    for e in exprs:
        assert "$" not in e and "[[" not in e, e
        assert e.count("(") == e.count(")") and e.count("{") == e.count("}") and e.count("[") == e.count("]"), e
        assert e.count('"') % 2 == 0, e
    assert BUILTINS["__rate_interval"] == "1m"


def test_dashboard_exprs_substitutes_variable_forms(tmp_path):
    d = {
        "templating": {"list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "machine", "type": "query", "multi": True, "includeAll": True},
            {"name": "machines", "type": "custom", "includeAll": False, "multi": False,
             "current": {"value": "42"}},
            {"name": "step", "type": "interval"},
        ]},
        "panels": [
            {"type": "row", "panels": [{"targets": [{"expr": 'a{m=~"${machine:regex}"}'}]}]},
            {"targets": [{"expr": 'rate(b{m=~"$machine",n="$machines"}[$__rate_interval])'},
                         {"expr": "c[[step]]"}, {"expr": ""}]},
        ],
    }
    p = tmp_path / "d.json"
    p.write_text(__import__("json").dumps(d))
    assert dashboard_exprs(p) == ['a{m=~".*"}', 'rate(b{m=~".*",n="42"}[1m])', "c1m"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_dashboard_exprs_parse_with_promtool(tmp_path):
    """promtool checks rule files offline: each expr becomes a recording rule."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"tracepipe:dashboard_expr_{i}", "expr": e} for i, e in enumerate(dashboard_exprs(DASHBOARD))
    ]}]}
    f = tmp_path / "rules.yml"
    f.write_text(yaml.safe_dump(rules))
    r = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_grafana_datasource_provisioning_shape():
    p = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert p["apiVersion"] == 1
    (ds,) = p["datasources"]
    assert ds["name"] == "Prometheus" and ds["type"] == "prometheus" and ds["access"] == "proxy"
    assert re.fullmatch(r"\$\{?[A-Z_]+\}?", ds["url"]), "url must come from the environment"
    assert "uid" not in ds or ds["uid"] not in ("", None)


def test_grafana_dashboard_provisioning_shape():
    p = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "tracepipe.yaml").read_text())
    assert p["apiVersion"] == 1
    (prov,) = p["providers"]
    assert prov["type"] == "file" and prov["folder"] == "tracepipe"
    path = prov["options"]["path"]
    # The Grafana chart mounts dashboardsConfigMaps.<key> at /var/lib/grafana/dashboards/<key>.
    assert path == "/var/lib/grafana/dashboards/tracepipe"


# ------------------------------------------------------------------ Dockerfile


def dockerfile() -> str:
    return (REPO / "Dockerfile").read_text(encoding="utf-8")


def test_dockerfile_is_multistage_pinned_locked_and_non_root():
    text = dockerfile()
    froms = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M | re.I)
    assert len(froms) >= 2, "multi-stage build expected"
    builder, runtime = froms[0][0], froms[-1][0]
    assert re.fullmatch(r"rust:1\.\d+\.\d+-bookworm", builder), builder
    assert re.fullmatch(r"debian:bookworm-\d{8}-slim", runtime), runtime
    assert "cargo build --release --locked" in text
    for pkg in ("cmake", "make", "gcc", "libssl-dev"):
        assert re.search(rf"\b{re.escape(pkg)}\b", text), pkg
    runtime_stage = text.split(f"FROM {runtime}", 1)[1]
    assert "libssl3" in runtime_stage and "ca-certificates" in runtime_stage
    user = re.findall(r"^USER\s+(\S+)", runtime_stage, re.M)
    assert user and user[-1].split(":")[0].isdigit() and int(user[-1].split(":")[0]) > 0
    assert re.search(r'^ENTRYPOINT \["tracepipe"\]', runtime_stage, re.M)
    # the uid the pods run as
    for doc, tmpl in workloads():
        if doc.namespace == "tracepipe":
            assert str(tmpl["spec"]["securityContext"]["runAsUser"]) == user[-1].split(":")[0]


def test_dockerignore_keeps_the_context_small():
    lines = {l.strip() for l in (REPO / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")}
    assert {"target", ".run", ".cache", ".git"} <= lines
    for needed in ("src", "Cargo.toml", "Cargo.lock", "benches"):
        assert needed not in lines


# ------------------------------------------------------------------ no environment-specific values


def test_no_project_ids_or_ip_addresses_in_deploy_files():
    allowed = {"0.0.0.0", "127.0.0.1"}
    for p in sorted(DEPLOY.rglob("*")):
        if not p.is_file() or p.suffix not in {".yaml", ".yml", ".json", ".tf", ".example"}:
            continue
        text = p.read_text(encoding="utf-8")
        # drop comments (documentation ranges such as 203.0.113.0/24 are fine there)
        code = "\n".join(l.split("#", 1)[0] for l in text.splitlines()) if p.suffix != ".json" else text
        for m in re.finditer(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", code):
            ip = m.group(0)
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                continue
            # Only internal ranges (the VPC's subnet defaults) and reserved addresses: never a
            # public address of some real network.
            assert ip in allowed or addr.is_reserved or not addr.is_global, f"{p}: IP address {ip}"
        assert not re.search(r"docker\.pkg\.dev/(?!\$\{|PROJECT|your-project-id|example)", code), p
