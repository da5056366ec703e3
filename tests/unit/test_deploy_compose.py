"""docker-compose.yml, deploy/Dockerfile, .dockerignore and deploy/k8s manifests.

`docker compose config` validates the compose file without a Docker engine. It needs the
compose v2 CLI plugin (or a standalone `docker-compose` v2); those tests skip, saying why,
when no docker client or no compose implementation is installed. The structural checks parse
the files directly and always run.
"""

import os
import re
import shutil
import subprocess
import tomllib

import pytest
import yaml

from tests.support import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
INPUT_PARTITIONS = 6
# What the images are built from: the serving packages (the consumer's, and the reviewer app's)
# go into both images, the training and load generator packages into the trainer image only.
BUILD_FILES = {"constraints.txt", "pyproject.toml", "setup.py", "README.md"}
RUNTIME_PACKAGES = {"schemas", "streams", "inference", "consumer", "reviewer"}
TRAINER_PACKAGES = {"training", "loadgen"}


def compose_command() -> list[str]:
    if shutil.which("docker") is None:
        pytest.skip("docker client not installed")
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=60
    )
    if probe.returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("docker client has no compose plugin (`docker compose version` failed)")


def run_compose_config(*extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"COMPOSE_FILE", "COMPOSE_PROFILES"}}
    return subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), *extra, "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def k8s_documents() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


# Object names of the two workloads, for the kinds both have (Deployment, Service, Secret...).
CONSUMER = "content-tagger"
REVIEWER = "content-tagger-reviewer"


def k8s_kind(kind: str, name: str | None = None) -> dict:
    """The one object of `kind` (named `name` where the consumer and the reviewer both have one)."""
    (doc,) = [
        d
        for d in k8s_documents()
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    return doc


# ------------------------------------------------------------------ compose


def test_compose_config_is_valid():
    result = run_compose_config()
    assert result.returncode == 0, result.stderr


def test_compose_config_with_demo_profile_is_valid():
    result = run_compose_config("--profile", "demo")
    assert result.returncode == 0, result.stderr


def test_kafka_is_the_official_image_pinned_to_a_4x_release():
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", services()["kafka"]["image"])


def test_kafka_runs_kraft_without_zookeeper():
    env = services()["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not any("ZOOKEEPER" in key for key in env)


def test_redis_persists_with_appendonly():
    command = services()["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"


def test_tagger_waits_for_healthy_infra_and_completed_one_shots():
    depends = services()["tagger"]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["topics"]["condition"] == "service_completed_successfully"
    assert depends["trainer"]["condition"] == "service_completed_successfully"


def test_topic_creation_waits_for_healthy_kafka():
    topics = services()["topics"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["command"][:3] == ["python", "-m", "consumer.topics"]


def test_topic_creation_also_creates_the_feedback_topic():
    topics = services()["topics"]
    assert "--no-feedback" not in topics["command"]
    assert topics["environment"]["TOPIC_FEEDBACK"] == "content.feedback"


def test_reviewer_app_runs_beside_the_tagger_from_the_runtime_image():
    reviewer = services()["reviewer"]
    assert reviewer["command"] == ["python", "-m", "reviewer"]
    assert reviewer["build"]["target"] == "runtime"
    assert reviewer["image"] == "content-tagger:local"
    assert reviewer["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert reviewer["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "127.0.0.1:8088:8088" in reviewer["ports"]
    assert "volumes" not in reviewer  # no model: it never classifies


def test_reviewer_app_points_at_the_taggers_topics_and_broker():
    env = services()["reviewer"]["environment"]
    tagger_env = services()["tagger"]["environment"]
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "TOPIC_REVIEW", "TOPIC_TAGGED", "TOPIC_FEEDBACK"):
        assert env[key] == tagger_env[key], key
    assert env["REVIEWER_PORT"] == "8088"
    assert env["REVIEWER_HOST"] == "0.0.0.0"
    assert env["REVIEWER_GROUP_ID"] == "content-tagger-reviewer"
    assert env["REVIEWER_GROUP_ID"] != tagger_env["CONSUMER_GROUP_ID"]


def test_reviewer_secrets_come_from_the_environment_with_local_demo_defaults():
    env = services()["reviewer"]["environment"]
    assert env["REVIEWER_TOKENS"].startswith("${REVIEWER_TOKENS:-")
    assert env["REVIEWER_SECRET_KEY"].startswith("${REVIEWER_SECRET_KEY:-")
    assert "local use only" in COMPOSE.read_text().lower()


def test_reviewer_healthcheck_polls_its_healthz_on_its_port():
    test = services()["reviewer"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    assert "http://127.0.0.1:8088/healthz" in test[-1]


def test_trainer_mounts_the_dataset_read_only_from_dataset_dir():
    volumes = services()["trainer"]["volumes"]
    assert "${DATASET_DIR:-../shared/data}:/data:ro" in volumes
    assert "models:/models" in volumes


def test_tagger_follows_the_registry_champion_through_a_writable_cache():
    tagger = services()["tagger"]
    env = tagger["environment"]
    assert env["MODEL_URI"] == "models:/content-tagger@champion"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert f"model-cache:{env['MODEL_CACHE_DIR']}" in tagger["volumes"]
    assert tagger["depends_on"]["mlflow"]["condition"] == "service_healthy"


def test_trainer_registers_each_run_in_the_registry():
    trainer = services()["trainer"]
    assert "--register content-tagger" in " ".join(trainer["command"])
    assert trainer["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_replay_producer_is_only_in_the_demo_profile():
    assert services()["replay"]["profiles"] == ["demo"]
    assert all("profiles" not in s for name, s in services().items() if name != "replay")


def test_every_service_with_a_healthcheck_dependency_defines_one():
    all_services = services()
    for name, service in all_services.items():
        for dep, spec in service.get("depends_on", {}).items():
            if spec["condition"] == "service_healthy":
                built = "build" in all_services[dep]  # HEALTHCHECK in deploy/Dockerfile
                assert built or "healthcheck" in all_services[dep], f"{name} -> {dep}"


def test_every_repo_bind_mount_exists():
    for service in services().values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source


def test_grafana_admin_password_comes_from_the_environment():
    env = services()["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD")


# ------------------------------------------------------------------ image


def dockerfile_stages() -> dict[str, dict]:
    """Each stage of deploy/Dockerfile, in order: its base, COPY (from stage, sources) and RUNs."""
    stages: dict[str, dict] = {}
    stage: dict = {}
    for line in re.sub(r"\\\n", " ", DOCKERFILE.read_text()).splitlines():
        instruction, _, rest = line.strip().partition(" ")
        if instruction == "FROM":
            base, _, name = rest.partition(" AS ")
            stage = stages[name or base] = {"base": base, "copies": [], "runs": []}
        elif instruction == "COPY":
            *sources, _dest = rest.split()
            src_stage = sources.pop(0).removeprefix("--from=") if "--from=" in rest else None
            stage["copies"].append((src_stage, sources))
        elif instruction == "RUN":
            stage["runs"].append(rest)
    return stages


def context_files_in(stages: dict[str, dict], name: str) -> set[str]:
    """The build-context paths that end up in stage `name` (through its base and COPY --from)."""
    stage = stages[name]
    files = context_files_in(stages, stage["base"]) if stage["base"] in stages else set()
    for src_stage, sources in stage["copies"]:
        if src_stage:
            files |= context_files_in(stages, src_stage)
        else:
            files |= {source.rstrip("/") for source in sources}
    return files


def test_dockerfile_default_target_runs_as_non_root_with_a_healthz_check():
    text = DOCKERFILE.read_text()
    final_stage = text[text.rindex("\nFROM ") :]
    assert "python:3.11-slim" in text
    assert re.search(r"^USER 10001", text, re.M)
    assert "HEALTHCHECK" in final_stage and "/healthz" in final_stage
    assert list(dockerfile_stages())[-1] == "runtime"


def test_runtime_image_ships_no_training_code():
    stages = dockerfile_stages()
    assert context_files_in(stages, "runtime") == BUILD_FILES | RUNTIME_PACKAGES
    assert context_files_in(stages, "trainer") == BUILD_FILES | RUNTIME_PACKAGES | TRAINER_PACKAGES


def test_the_images_together_hold_every_package_of_the_project():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in included} == RUNTIME_PACKAGES | TRAINER_PACKAGES


def test_every_pip_install_in_the_images_is_pinned_by_the_constraints():
    installs = [
        run for s in dockerfile_stages().values() for run in s["runs"] if "pip install" in run
    ]
    assert len(installs) == 2  # the consumer's, then the trainer's extras
    assert all(re.search(r"pip install -c constraints\.txt ", run) for run in installs)


def test_dockerignore_only_lets_in_the_packages_and_the_pins():
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == BUILD_FILES | RUNTIME_PACKAGES | TRAINER_PACKAGES


def test_compose_runs_training_and_replay_from_the_trainer_image_only():
    all_services = services()
    for name in ("trainer", "replay"):
        assert all_services[name]["build"]["target"] == "trainer", name
        assert all_services[name]["image"] == "content-tagger-trainer:local", name
    for name in ("topics", "tagger", "reviewer"):
        assert all_services[name]["build"]["target"] == "runtime", name
        assert all_services[name]["image"] == "content-tagger:local", name


# ------------------------------------------------------------------ kubernetes


def test_k8s_manifests_are_namespace_agnostic():
    for doc in k8s_documents():
        assert "namespace" not in doc.get("metadata", {}), doc["kind"]
    assert "namespace" not in k8s_kind("Kustomization")


def test_kustomization_lists_every_manifest():
    listed = set(k8s_kind("Kustomization")["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files


def test_keda_max_replicas_equals_input_partitions():
    spec = k8s_kind("ScaledObject")["spec"]
    assert spec["maxReplicaCount"] == INPUT_PARTITIONS
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["topic"] == "content.raw"
    assert trigger["metadata"]["consumerGroup"] == "content-tagger"


def test_deployment_leaves_replicas_to_keda_and_runs_one_worker_per_pod():
    deployment = k8s_kind("Deployment", CONSUMER)
    assert "replicas" not in deployment["spec"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][-2:] == ["--workers", "1"]


def test_deployment_probes_hit_healthz():
    (container,) = k8s_kind("Deployment", CONSUMER)["spec"]["template"]["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz", probe


def test_deployment_delivers_the_model_with_an_init_container():
    pod = k8s_kind("Deployment", CONSUMER)["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert {"name": "models", "mountPath": "/models"} in init["volumeMounts"]
    assert any(v["name"] == "models" and "emptyDir" in v for v in pod["volumes"])


def test_k8s_secret_holds_only_placeholders():
    secret = k8s_kind("Secret", "content-tagger-kafka")
    assert "data" not in secret
    assert secret["stringData"]["sasl-username"] == "CHANGE_ME"
    assert secret["stringData"]["sasl-password"] == "CHANGE_ME"
    reviewer = k8s_kind("Secret", REVIEWER)
    assert "data" not in reviewer
    assert reviewer["stringData"] == {"tokens": "CHANGE_ME", "secret-key": "CHANGE_ME"}


def test_pod_is_scraped_by_podmonitor_and_annotations():
    annotations = k8s_kind("Deployment", CONSUMER)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9108"
    endpoints = k8s_kind("PodMonitor", CONSUMER)["spec"]["podMetricsEndpoints"]
    assert endpoints[0]["port"] == "metrics"


def test_pod_gets_no_service_account_token_and_only_metrics_ingress():
    pod = k8s_kind("Deployment", CONSUMER)["spec"]["template"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    policy = k8s_kind("NetworkPolicy", CONSUMER)["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert "from" not in rule and rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]


# ------------------------------------------------------------------ kubernetes: reviewer app


def reviewer_container() -> dict:
    (container,) = k8s_kind("Deployment", REVIEWER)["spec"]["template"]["spec"]["containers"]
    return container


def test_reviewer_deployment_runs_the_app_from_the_runtime_image():
    deployment = k8s_kind("Deployment", REVIEWER)
    assert deployment["spec"]["replicas"] == 1
    container = reviewer_container()
    consumer = k8s_kind("Deployment", CONSUMER)["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == consumer["image"]
    assert container["args"] == ["python", "-m", "reviewer"]
    assert container["ports"] == [{"name": "http", "containerPort": 8088, "protocol": "TCP"}]
    assert "initContainers" not in deployment["spec"]["template"]["spec"]  # no model


def test_reviewer_deployment_gets_topics_from_the_shared_configmap_and_secrets_by_reference():
    container = reviewer_container()
    assert container["envFrom"] == [{"configMapRef": {"name": CONSUMER}}]
    assert k8s_kind("ConfigMap")["data"]["TOPIC_FEEDBACK"] == "content.feedback"
    env = {e["name"]: e for e in container["env"]}
    assert env["REVIEWER_PORT"]["value"] == "8088"
    assert env["REVIEWER_GROUP_ID"]["value"] == "content-tagger-reviewer"
    for name, key in (("REVIEWER_TOKENS", "tokens"), ("REVIEWER_SECRET_KEY", "secret-key")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": REVIEWER, "key": key}
    for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "content-tagger-kafka"


def test_reviewer_probes_hit_healthz_on_its_port():
    container = reviewer_container()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe


def test_reviewer_pod_is_locked_down_like_the_consumer():
    pod = k8s_kind("Deployment", REVIEWER)["spec"]["template"]["spec"]
    consumer_pod = k8s_kind("Deployment", CONSUMER)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == consumer_pod["securityContext"]
    assert (
        reviewer_container()["securityContext"] == consumer_pod["containers"][0]["securityContext"]
    )
    assert reviewer_container()["resources"]["limits"].keys() == {"cpu", "memory"}


def test_reviewer_service_network_policy_and_scraping_use_its_http_port():
    labels = k8s_kind("Deployment", REVIEWER)["spec"]["template"]["metadata"]["labels"]
    service = k8s_kind("Service", REVIEWER)["spec"]
    assert service["selector"] == labels
    assert service["ports"] == [
        {"name": "http", "port": 8088, "targetPort": "http", "protocol": "TCP"}
    ]
    policy = k8s_kind("NetworkPolicy", REVIEWER)["spec"]
    assert policy["podSelector"]["matchLabels"] == labels
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    annotations = k8s_kind("Deployment", REVIEWER)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8088"
    monitor = k8s_kind("PodMonitor", REVIEWER)["spec"]
    assert monitor["selector"]["matchLabels"] == labels
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] == "http"
    assert {"targetLabel": "job", "replacement": "content-tagger-reviewer"} in endpoint[
        "relabelings"
    ]


def test_consumer_selectors_do_not_pick_the_reviewer_pods():
    reviewer_labels = k8s_kind("Deployment", REVIEWER)["spec"]["template"]["metadata"]["labels"]
    selectors = [
        k8s_kind("Deployment", CONSUMER)["spec"]["selector"]["matchLabels"],
        k8s_kind("Service", "content-tagger-metrics")["spec"]["selector"],
        k8s_kind("NetworkPolicy", CONSUMER)["spec"]["podSelector"]["matchLabels"],
        k8s_kind("PodMonitor", CONSUMER)["spec"]["selector"]["matchLabels"],
        k8s_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert not selector.items() <= reviewer_labels.items(), selector


def test_every_variable_given_to_the_reviewer_is_one_it_reads():
    """A misspelt name would be ignored silently (settings ignore unknown variables)."""
    from consumer.config import PASSTHROUGH_PREFIXES
    from reviewer.config import ReviewerSettings

    known = {name.upper() for name in ReviewerSettings.model_fields}
    given = set(services()["reviewer"]["environment"]) | {
        e["name"] for e in reviewer_container()["env"]
    }
    unknown = {v for v in given - known if not v.startswith(PASSTHROUGH_PREFIXES)}
    assert not unknown, sorted(unknown)


# `kustomize build`, kubernetes-validate and checkov: tests/unit/test_deploy_tools.py.
