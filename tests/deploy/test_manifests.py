"""deploy/: every Kubernetes manifest and the compose file validate strictly offline, and fit the image together."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import unavailable
from tests.deploy.dockerfile import DOCKERFILE, final_stage

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose.yaml"
BENCHMARKS = ROOT / "docs" / "benchmarks.md"
# The oldest Kubernetes release the manifests promise to work on (preStop `sleep` is on by default from 1.30),
# and the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.30.0", None]


def tool(name: str) -> str:
    """Return the path of a console script installed beside this Python, or on PATH."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed (pip install -e '.[test]')")
    return found


def manifests() -> list[Path]:
    """Return every YAML file under deploy/k8s."""
    return sorted(K8S.glob("*.yaml")) + sorted(K8S.glob("*.yml"))


def resources() -> list[dict]:
    """Return every resource of every manifest."""
    return [doc for path in manifests() for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc]


def one(kind: str) -> dict:
    """Return the single resource of ``kind``."""
    found = [r for r in resources() if r["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(resource: dict) -> dict:
    """Return the pod spec of a Deployment or a CronJob."""
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return resource["spec"]["template"]["spec"]


def mebibytes(quantity: str) -> float:
    """Return a Kubernetes memory quantity in MiB."""
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i)?", quantity).groups()
    return float(number) * {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, None: 1 / 2**20}[unit]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS, ids=lambda v: v or "newest")
def test_every_manifest_validates_strictly(version):
    """kubernetes-validate --strict (schemas shipped in the package, no network) accepts every resource."""
    files = manifests()
    assert len(files) >= 6 and all(list(yaml.safe_load_all(p.read_text())) for p in files)
    command = [tool("kubernetes-validate"), "--strict", "--quiet", *(["-k", version] if version else [])]
    result = subprocess.run(command + [str(p) for p in files], capture_output=True, text=True, timeout=120)
    # A kind it has no schema for is only a WARN with exit 0: any output at all fails.
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), \
        result.stdout + result.stderr


def test_the_validator_rejects_what_it_should(tmp_path):
    """An unknown field fails strict validation; an unknown kind prints a warning (so the test above can fail)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {bogus: 1}\n---\n"
                   "apiVersion: v1\nkind: Servise\nmetadata: {name: y}\n")
    result = subprocess.run([tool("kubernetes-validate"), "--strict", "--quiet", str(bad)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "bogus" in result.stdout and "Servise" in result.stdout


def test_compose_file_validates_against_the_compose_spec():
    """deploy/compose.yaml passes the Compose Specification schema check-jsonschema ships (offline)."""
    result = subprocess.run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deployment_probes_and_security():
    """Readiness on /readyz, liveness on /healthz, at the image's port; non-root, read-only root and store."""
    deployment = one("Deployment")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port["http"] == int(final_stage(DOCKERFILE.read_text())["env"]["VECCLF_PORT"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"]["readOnly"] and "/tmp" in mounts
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_grace_period_covers_gunicorns_graceful_timeout():
    """terminationGracePeriodSeconds = preStop sleep + VECCLF_GRACEFUL_TIMEOUT + at most 10 s of margin."""
    spec = pod_spec(one("Deployment"))
    (container,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    graceful = int(env["VECCLF_GRACEFUL_TIMEOUT"])
    pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert graceful + pause < spec["terminationGracePeriodSeconds"] <= graceful + pause + 10


def measured_pss() -> dict[int, float]:
    """Return {workers: MiB} of the total PSS row benchmarks/serve.py writes into docs/benchmarks.md."""
    row = re.search(r"^\| total PSS, 1 worker / 4 workers \| (\d+) / (\d+) MiB", BENCHMARKS.read_text("utf-8"), re.M)
    assert row, "docs/benchmarks.md has no PSS row from benchmarks/serve.py"
    return {1: float(row.group(1)), 4: float(row.group(2))}


def test_memory_is_sized_from_the_measured_pss():
    """The memory request covers the PSS measured for the Deployment's worker count; the limit leaves 1.5x."""
    (container,) = pod_spec(one("Deployment"))["containers"]
    workers = int({e["name"]: e.get("value") for e in container["env"]}["VECCLF_WORKERS"])
    pss = measured_pss()
    expected = pss[1] + (pss[4] - pss[1]) / 3 * (workers - 1)  # shared part + one slice per extra worker
    request = mebibytes(container["resources"]["requests"]["memory"])
    limit = mebibytes(container["resources"]["limits"]["memory"])
    assert expected <= request <= 1.5 * expected and limit >= 1.5 * expected
    assert float(container["resources"]["limits"]["cpu"]) == workers  # a worker's threads share one GIL: a core at most


def test_the_pieces_point_at_each_other():
    """Service, HPA and PDB select the Deployment's pods; the store claim is the one the pods mount."""
    deployment = one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        resource = one(kind)
        selector = resource["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= pod_labels.items(), kind
    target = one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    claim = one("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for owner in (deployment, one("CronJob")):
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod_spec(owner)["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == [claim["metadata"]["name"]], owner["kind"]


def test_one_nightly_retrain_cronjob_without_overlap():
    """Exactly one CronJob in deploy/: it runs `vecclf retrain --config` and forbids concurrent runs."""
    cronjob = one("CronJob")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = pod_spec(cronjob)["containers"]
    assert container["command"][:3] == ["vecclf", "retrain", "--config"]
    config = container["command"][3]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(cronjob)["volumes"]}
    (config_volume,) = [n for n, path in mounts.items() if config.startswith(path + "/")]
    config_map = one("ConfigMap")
    assert volumes[config_volume]["configMap"]["name"] == config_map["metadata"]["name"]
    assert Path(config).name in config_map["data"]
    every_cronjob = [p for p in (ROOT / "deploy").rglob("*.y*ml") if re.search(r"^kind: CronJob", p.read_text(), re.M)]
    assert every_cronjob == [K8S / "retrain-cronjob.yaml"]


def test_compose_runs_the_image_service_retrain_and_postgres():
    """compose.yaml: the service on the image's command, a retrain job on the same image, PostgreSQL for feedback."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"vecclf", "retrain", "postgres"}
    service, job = services["vecclf"], services["retrain"]
    assert service["image"] == job["image"] and "command" not in service  # the image's CMD: vecclf serve
    assert job["command"][:3] == ["vecclf", "retrain", "--config"] and job["profiles"] == ["jobs"]
    assert "/models:ro" in " ".join(service["volumes"]) and service["read_only"]
    assert all("@postgres:5432/" in s["environment"]["VECCLF_DATABASE_URL"] for s in (service, job))
    assert services["postgres"]["healthcheck"] and service["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_retrain_runs_a_valid_command_and_config(tmp_path):
    """The compose retrain job's command parses with vecclf's CLI and its inline config is one retrain accepts."""
    from vecclf.training.cli import build_parser
    from vecclf.training.retrain_config import load_config

    compose = yaml.safe_load(COMPOSE.read_text())
    job = compose["services"]["retrain"]
    args = build_parser().parse_args(job["command"][1:])
    (mount,) = job["configs"]
    assert args.command == "retrain" and args.config == mount["target"]
    config = tmp_path / "retrain.toml"
    config.write_text(compose["configs"][mount["source"]]["content"])
    assert load_config(config).data.include_feedback

