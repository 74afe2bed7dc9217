"""Schema validation of every Kubernetes object the deployment applies.

* Built-in kinds: strictly (unknown fields rejected) against the Kubernetes OpenAPI schemas
  that the `kubernetes-validate` package ships, for each Kubernetes minor in K8S_VERSIONS: the
  GKE minors targeted (deploy/terraform: release_channel, default REGULAR; a GKE cluster is
  upgraded in place along its channel, so the next minors must accept the objects too).
* Custom resources, strictly against the CRD schema of the pinned operator version, wherever a
  package registry serves that CRD:
    - SparkApplication (spark-operator v2.3.0): the Go module github.com/kubeflow/spark-operator/v2
      at v2.3.0 from the Go module proxy carries its CRDs (charts/spark-operator-chart/crds/);
      downloaded with `go mod download` into the Go module cache.
    - Kafka, KafkaNodePool, KafkaTopic, KafkaUser (Strimzi 0.48.0): no package registry serves
      their CRD schemas (Strimzi publishes the CRD YAML with its GitHub release and its Helm
      chart only, neither reachable here; its crd-generator is not on Maven Central). What Maven
      Central does serve is io.strimzi:api:0.48.0, the Java model the CRD schemas are generated
      from: StrimziModelCheck.java reads every Strimzi resource into that model and fails on any
      field the model does not declare (anywhere in the tree), any unknown enum value or
      subtype, and any wrongly typed value. The CRDs' numeric and pattern constraints
      (minimum, maximum, pattern) are not checked that way.

Objects: `kubectl kustomize deploy/k8s` (what `kubectl apply -k` and, file by file, Terraform
apply) and every object under deploy/spark/ (kustomization and spark-submit pod templates).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from deploy_docs import DEPLOY, K8S, k8s_objects

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install -r requirements-dev.txt")
import jsonschema  # noqa: E402  (a dependency of kubernetes-validate)

K8S_VERSIONS = ("1.33.0", "1.34.0", "1.35.0")

SPARK_OPERATOR_MODULE = "github.com/kubeflow/spark-operator/v2"
SPARK_OPERATOR_VERSION = "v2.3.0"
STRIMZI_VERSION = "0.48.0"
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
@lru_cache(maxsize=None)
def applied_objects() -> tuple[tuple[str, str], ...]:
    """(where, JSON) of every object: kustomize's build of deploy/k8s, plus deploy/spark."""
    out: list[tuple[str, str]] = []
    if shutil.which("kubectl"):
        built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                               timeout=120, check=True).stdout
        for i, d in enumerate(yaml.safe_load_all(built)):
            if d:
                out.append((f"kustomize deploy/k8s #{i} {d['kind']}/{d['metadata']['name']}", json.dumps(d)))
    else:
        for d in k8s_objects():
            if str(d.path).startswith(str(K8S)):
                out.append((d.where(), json.dumps(d.body)))
    for d in k8s_objects():
        if str(d.path).startswith(str(DEPLOY / "spark")):
            out.append((d.where(), json.dumps(d.body)))
    # Pod templates of the spark-submit path: no name (k8s_objects() skips them) and no
    # containers (Spark adds its driver/executor container, with the image and resources of its
    # --conf settings); validated as the Pod Spark builds from them, with that container.
    for name, container in (("driver-pod-template.yaml", "spark-kubernetes-driver"),
                            ("executor-pod-template.yaml", "spark-kubernetes-executor")):
        body = yaml.safe_load((DEPLOY / "spark" / name).read_text(encoding="utf-8"))
        body.setdefault("spec", {}).setdefault("containers", [{"name": container, "image": "spark:pinned"}])
        out.append((f"deploy/spark/{name}", json.dumps(body)))
    return tuple(out)


def objects_of(kinds: set[str] | None = None, exclude: set[str] | None = None) -> list[tuple[str, dict]]:
    res = []
    for where, text in applied_objects():
        body = json.loads(text)
        if kinds is not None and body["kind"] not in kinds:
            continue
        if exclude is not None and body["kind"] in exclude:
            continue
        res.append((where, body))
    return res


CUSTOM_KINDS = STRIMZI_KINDS | {"SparkApplication"}


def test_the_objects_cover_every_kind():
    kinds = {b["kind"] for _, b in objects_of()}
    assert {"Deployment", "Job", "Service", "NetworkPolicy", "ConfigMap", "PersistentVolumeClaim",
            "Namespace", "ServiceAccount", "Role", "RoleBinding", "Pod"} <= kinds
    assert CUSTOM_KINDS <= kinds
    assert len([1 for _, b in objects_of() if b["kind"] == "NetworkPolicy"]) >= 12


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_objects_validate_strictly(version):
    checked = 0
    errors = []
    for where, body in objects_of(exclude=CUSTOM_KINDS):
        try:
            kubernetes_validate.validate(body, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
        checked += 1
    assert not errors, "\n".join(errors)
    assert checked >= 25


def test_strict_validation_rejects_an_unknown_field():
    """The validator is not vacuous: a misspelt field fails."""
    where, dep = next(o for o in objects_of({"Deployment"}))
    bad = copy.deepcopy(dep)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[0], strict=True)


# ------------------------------------------------------------------ custom resources


def strict_schema(schema: dict) -> dict:
    """A CRD's openAPIV3Schema as a JSON schema that, like the API server's pruning, admits no
    field the schema does not declare (unless x-kubernetes-preserve-unknown-fields)."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("x-kubernetes-int-or-string"):
                node.pop("type", None)
                node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
            if node.get("nullable") and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if (node.get("type") == "object" or "properties" in node) and "properties" in node \
                    and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(s)
    # the API server handles metadata itself
    if "properties" in s and "metadata" in s["properties"]:
        s["properties"]["metadata"] = {"type": "object"}
    return s


def crd_validator(crd: dict, api_version: str) -> jsonschema.protocols.Validator:
    version = api_version.split("/", 1)[1]
    (v,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert v.get("served", True), f"{crd['metadata']['name']} does not serve {version}"
    return jsonschema.Draft7Validator(strict_schema(v["schema"]["openAPIV3Schema"]))


@lru_cache(maxsize=None)
def spark_operator_dir() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.skip(f"go not installed: the SparkApplication CRD of spark-operator {SPARK_OPERATOR_VERSION} "
                    "comes from its Go module")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"}
    r = subprocess.run([go, "mod", "download", "-json", f"{SPARK_OPERATOR_MODULE}@{SPARK_OPERATOR_VERSION}"],
                       capture_output=True, text=True, timeout=600, env=env, cwd=os.path.expanduser("~"))
    if r.returncode != 0:
        pytest.skip(f"go mod download {SPARK_OPERATOR_MODULE}@{SPARK_OPERATOR_VERSION} failed "
                    f"(Go module proxy unreachable?): {r.stdout[-300:]}{r.stderr[-300:]}")
    return json.loads(r.stdout)["Dir"]


def spark_crd() -> dict:
    path = Path(spark_operator_dir()) / "charts" / "spark-operator-chart" / "crds" / \
        "sparkoperator.k8s.io_sparkapplications.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_sparkapplication_validates_against_the_pinned_crd():
    crd = spark_crd()
    apps = objects_of({"SparkApplication"})
    assert apps
    for where, body in apps:
        validator = crd_validator(crd, body["apiVersion"])
        errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{where}:\n" + "\n".join(errors)


def test_crd_validation_rejects_an_unknown_field():
    crd = spark_crd()
    where, app = objects_of({"SparkApplication"})[0]
    bad = copy.deepcopy(app)
    bad["spec"]["driver"]["coress"] = 1
    assert list(crd_validator(crd, bad["apiVersion"]).iter_errors(bad))
    bad = copy.deepcopy(app)
    bad["spec"]["restartPolicy"]["type"] = "Sometimes"
    assert list(crd_validator(crd, bad["apiVersion"]).iter_errors(bad))


STRIMZI_POM = f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tracepipe</groupId><artifactId>strimzi-model-check</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>{STRIMZI_VERSION}</version></dependency>
  </dependencies>
</project>
"""


@pytest.fixture(scope="module")
def strimzi_model_check(tmp_path_factory):
    """A runner of StrimziModelCheck.java against io.strimzi:api:STRIMZI_VERSION."""
    tools = {t: shutil.which(t) for t in ("mvn", "javac", "java")}
    if not all(tools.values()):
        pytest.skip(f"{[t for t, p in tools.items() if not p]} not installed: the Strimzi resources are checked "
                    f"against io.strimzi:api:{STRIMZI_VERSION} from Maven Central with Java")
    work = tmp_path_factory.mktemp("strimzi")
    (work / "pom.xml").write_text(STRIMZI_POM)
    r = subprocess.run([tools["mvn"], "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=lib"],
                       cwd=work, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        pytest.skip(f"io.strimzi:api:{STRIMZI_VERSION} could not be fetched from Maven Central: "
                    f"{r.stdout[-400:]}{r.stderr[-400:]}")
    source = Path(__file__).with_name("StrimziModelCheck.java")
    r = subprocess.run([tools["javac"], "-d", str(work / "classes"), "-cp", str(work / "lib" / "*"), str(source)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

    def run(docs: list[dict]) -> subprocess.CompletedProcess:
        f = work / f"resources-{len(list(work.glob('resources-*')))}.yaml"
        f.write_text(yaml.safe_dump_all(docs))
        return subprocess.run(
            [tools["java"], "-cp", f"{work / 'classes'}{os.pathsep}{work / 'lib' / '*'}", "StrimziModelCheck", str(f)],
            capture_output=True, text=True, timeout=300)

    return run


def test_strimzi_resources_match_the_pinned_strimzi_model(strimzi_model_check):
    docs = [body for _, body in objects_of(STRIMZI_KINDS)]
    assert {d["kind"] for d in docs} == STRIMZI_KINDS
    r = strimzi_model_check(docs)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"checked {len(docs)} resources, 0 problems" in r.stdout


def test_strimzi_model_check_rejects_unknown_fields_and_values(strimzi_model_check):
    """The check is not vacuous: a misspelt field, an unknown enum value, an unknown
    authentication type each fail."""
    kafka = copy.deepcopy(objects_of({"Kafka"})[0][1])
    kafka["spec"]["kafka"]["listeners"][0]["tlss"] = True
    pool = copy.deepcopy(objects_of({"KafkaNodePool"})[0][1])
    pool["spec"]["template"]["pod"]["topologySpreadConstraint"] = []
    user = copy.deepcopy(objects_of({"KafkaUser"})[0][1])
    user["spec"]["authorization"]["acls"][0]["operations"] = ["Wrte"]
    user2 = copy.deepcopy(objects_of({"KafkaUser"})[0][1])
    user2["spec"]["authentication"]["type"] = "scram-sha-256"
    for bad, expected in ((kafka, "unknown field(s) [tlss]"), (pool, "unknown field(s) [topologySpreadConstraint]"),
                          (user, "unknown value"), (user2, "scram-sha-256")):
        r = strimzi_model_check([bad])
        assert r.returncode == 1 and expected in r.stdout, r.stdout + r.stderr
