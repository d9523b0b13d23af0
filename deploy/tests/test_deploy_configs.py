"""What deploy/ ships holds together, checked without a cluster or a Docker
daemon: every YAML file parses; the Kubernetes manifests refer to what they
declare (labels, ports, volumes, Services, the kustomization's files); the
Compose file's services, mounts, consumers and NATS routes name each other;
the Dockerfile's stages and user are what its comments promise; and every
lineaged config file is accepted by the real binary (`lineaged
--check-config`), with the settings each replica ends up with.

Run with `pytest deploy/tests` from the repository root. The binary is
$LINEAGED_BIN if set, else built with cargo (the debug build).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
DOCKERFILE = DEPLOY / "container" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
# The image's user: the Dockerfile, the pods' securityContext and the
# volumes' owners agree on it.
IMAGE_UID = 10001


# ---------------------------------------------------------------- helpers


def yaml_files() -> list[Path]:
    return sorted(
        path
        for path in DEPLOY.rglob("*")
        if path.suffix in {".yaml", ".yml"} and path.is_file()
    )


def documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as file:
        return [doc for doc in yaml.safe_load_all(file) if doc is not None]


def lineaged_configs() -> list[Path]:
    """Every lineaged config file under deploy/ (access files and the like
    are other TOML)."""
    return sorted(DEPLOY.rglob("lineaged*.toml"))


def read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        return tomllib.load(file)


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def kustomization() -> dict[str, Any]:
    (doc,) = documents(K8S / "kustomization.yaml")
    return doc


def k8s_objects() -> list[tuple[Path, dict[str, Any]]]:
    """The objects of the files the kustomization lists."""
    return [
        (K8S / name, doc)
        for name in kustomization()["resources"]
        for doc in documents(K8S / name)
    ]


def objects_of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_objects() if doc.get("kind") == kind]


def statefulset() -> dict[str, Any]:
    (sts,) = objects_of_kind("StatefulSet")
    return sts


def lineaged_container(sts: dict[str, Any]) -> dict[str, Any]:
    containers = sts["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "lineaged"]
    return container


def container_ports(container: dict[str, Any]) -> dict[str | int, int]:
    """Each declared port by its name and by its number."""
    ports: dict[str | int, int] = {}
    for port in container.get("ports", []):
        ports[port["containerPort"]] = port["containerPort"]
        if "name" in port:
            ports[port["name"]] = port["containerPort"]
    return ports


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def mount_for(container: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The volume mount `path` lies under, the deepest if several."""
    under = [
        mount
        for mount in container.get("volumeMounts", [])
        if path == mount["mountPath"]
        or path.startswith(mount["mountPath"].rstrip("/") + "/")
    ]
    return max(under, key=lambda m: len(m["mountPath"]), default=None)


def flag_value(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def compose() -> dict[str, Any]:
    (doc,) = documents(COMPOSE_FILE)
    return doc


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def is_lineaged(service: dict[str, Any]) -> bool:
    """A service running lineaged: the image's, with its own entrypoint (a
    one-shot helper on the same image replaces it)."""
    if "entrypoint" in service:
        return False
    build = service.get("build") or {}
    dockerfile = build.get("dockerfile", "") if isinstance(build, dict) else ""
    return dockerfile.endswith("deploy/container/Dockerfile") or str(
        service.get("image", "")
    ).startswith("lineage:")


def is_nats(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).startswith("nats:")


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume entry, short syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((volume["source"], volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            mounts.append((source, target))
    return mounts


def mounted_config(service: dict[str, Any]) -> Path | None:
    """The host file a lineaged service mounts as its config file."""
    config_path = flag_value(service.get("command") or [], "--config") or (
        environment_of(service).get("LINEAGE_CONFIG", "/etc/lineage/lineaged.toml")
    )
    for source, target in bind_mounts(service):
        if target == config_path and source.startswith("."):
            return (COMPOSE_DIR / source).resolve()
    return None


def nats_block(text: str, name: str) -> str:
    """The body of the `name { ... }` block of a NATS config file."""
    match = re.search(rf"^\s*{name}\s*\{{", text, re.MULTILINE)
    assert match, f"a {name} block"
    depth, start = 1, match.end()
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start:index]
    raise AssertionError(f"the {name} block ends")


def nats_setting(text: str, key: str) -> str:
    match = re.search(rf"^\s*{key}\s*[:=]\s*(\S+)", text, re.MULTILINE)
    assert match, f"{key} is set"
    return match.group(1).strip('"')


class Stage:
    def __init__(self, index: int, base: str, name: str | None) -> None:
        self.index = index
        self.base = base
        self.name = name
        self.instructions: list[tuple[str, str]] = []
        self.args: dict[str, str] = {}


def dockerfile_stages() -> tuple[dict[str, str], list[Stage]]:
    """The global ARGs and the stages of the Dockerfile, each with its
    instructions (continuation lines joined, comments dropped)."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        instruction, _, rest = line.strip().partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(len(stages), words[0], name))
            continue
        if not stages:
            if instruction == "ARG":
                key, _, value = rest.partition("=")
                global_args[key] = value
            continue
        stage = stages[-1]
        if instruction == "ARG":
            key, _, value = rest.partition("=")
            stage.args[key] = value or global_args.get(key, "")
        stage.instructions.append((instruction, rest))
    return global_args, stages


def expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), text)


def dockerignore_patterns() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` (relative to the repository) out
    of the build context: the subset of its syntax used here."""
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            tail = pattern[3:]
            parts = path.split("/")
            if any(
                fnmatch.fnmatch("/".join(parts[i : i + 1]), tail)
                or fnmatch.fnmatch("/".join(parts[i:]), tail)
                for i in range(len(parts))
            ):
                return True
        elif path == pattern or path.startswith(pattern + "/"):
            return True
        elif fnmatch.fnmatch(path, pattern):
            return True
    return False


# ------------------------------------------------------------ the binary


@pytest.fixture(scope="session")
def lineaged() -> Path:
    """The real lineaged: $LINEAGED_BIN, or the workspace's debug build."""
    if os.environ.get("LINEAGED_BIN"):
        return Path(os.environ["LINEAGED_BIN"])
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("neither LINEAGED_BIN nor cargo: cannot check the config files")
    subprocess.run(
        [cargo, "build", "--quiet", "--locked", "-p", "lineage-server", "--bin", "lineaged"],
        cwd=REPO,
        check=True,
    )
    metadata = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"]) / "debug" / "lineaged"


def check_config(
    lineaged: Path, config: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """`lineaged --check-config` on `config` with only `env` (no LINEAGE_*
    variable of the caller's): the settings in effect, by key, read back
    from what it prints (a config file that reproduces them). Fails the
    test, with lineaged's reason, if it refuses them."""
    result = subprocess.run(
        [str(lineaged), "--check-config", "--config", str(config)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"{config}: {result.stderr.strip()}"
    return tomllib.loads(result.stdout)


# ------------------------------------------------------------------ YAML


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_yaml_file_parses_into_documents(path: Path) -> None:
    assert documents(path), f"{path} holds at least one document"


# ------------------------------------------------------------ Kubernetes


def test_every_object_has_an_api_version_a_kind_and_a_name() -> None:
    for path, doc in k8s_objects():
        assert isinstance(doc, dict), path
        assert doc.get("apiVersion"), f"{path}: apiVersion"
        assert doc.get("kind"), f"{path}: kind"
        assert doc.get("metadata", {}).get("name"), f"{path}: metadata.name"


def test_the_kustomization_lists_files_that_exist_and_every_manifest() -> None:
    kust = kustomization()
    listed = list(kust["resources"])
    for generator in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []):
        listed += generator.get("files", [])
    for name in listed:
        assert (K8S / name.split("=", 1)[-1]).is_file(), f"kustomization lists {name}"
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert manifests == set(kust["resources"]), "every manifest is a resource"


def test_the_statefulset_selects_its_own_pods_and_names_a_headless_service() -> None:
    sts = statefulset()
    spec = sts["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert selects(spec["selector"]["matchLabels"], labels)
    headless = [
        svc
        for svc in objects_of_kind("Service")
        if svc["metadata"]["name"] == spec["serviceName"]
    ]
    assert headless, f"a Service named {spec['serviceName']}"
    assert headless[0]["spec"].get("clusterIP") == "None", "the StatefulSet's Service is headless"
    assert spec["replicas"] >= 2, "read replicas"


def test_every_volume_mount_names_a_volume_or_a_claim_template() -> None:
    sts = statefulset()
    pod = sts["spec"]["template"]["spec"]
    names = {volume["name"] for volume in pod.get("volumes", [])} | {
        claim["metadata"]["name"] for claim in sts["spec"].get("volumeClaimTemplates", [])
    }
    for container in pod["containers"]:
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in names, f"{container['name']} mounts {mount['name']}"


def test_config_maps_and_secrets_exist_or_are_documented() -> None:
    pod = statefulset()["spec"]["template"]["spec"]
    config_maps = {cm["metadata"]["name"] for cm in objects_of_kind("ConfigMap")} | {
        generator["name"] for generator in kustomization().get("configMapGenerator", [])
    }
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            assert volume["configMap"]["name"] in config_maps, volume
        if "secret" in volume:
            # Secrets hold what a repository must not: deploy/README.md
            # says how to make each.
            assert volume["secret"]["secretName"] in readme, volume


def test_probes_target_declared_ports() -> None:
    container = lineaged_container(statefulset())
    ports = container_ports(container)
    probes = [container[kind] for kind in ("readinessProbe", "livenessProbe", "startupProbe") if kind in container]
    assert any("grpc" in probe for probe in probes), "at least one gRPC health probe"
    for probe in probes:
        (handler,) = [probe[k] for k in ("grpc", "httpGet", "tcpSocket") if k in probe]
        assert handler["port"] in ports, f"probe port {handler['port']} is declared"
    readiness = container["readinessProbe"]
    assert readiness["grpc"]["service"] == "lineage.v1.LineageService", (
        "ready once the log is replayed (the service lineaged reports NOT_SERVING until then)"
    )
    liveness = container["livenessProbe"]
    assert liveness.get("grpc", {}).get("service", "") == "" or "httpGet" in liveness, (
        "liveness must not wait for the replay"
    )


def test_the_pods_run_as_the_image_s_non_root_user_on_a_read_only_root() -> None:
    pod = statefulset()["spec"]["template"]["spec"]
    pod_security = pod.get("securityContext", {})
    for container in pod["containers"]:
        security = {**pod_security, **container.get("securityContext", {})}
        assert security.get("runAsNonRoot") is True, container["name"]
        assert security.get("runAsUser") == IMAGE_UID, container["name"]
        assert security.get("readOnlyRootFilesystem") is True, container["name"]
        assert security.get("allowPrivilegeEscalation") is False, container["name"]
    assert pod_security.get("fsGroup") == IMAGE_UID, "the volume claim is the user's"


def test_each_pod_consumes_with_a_durable_consumer_named_after_itself() -> None:
    container = lineaged_container(statefulset())
    (consumer,) = [env for env in container.get("env", []) if env["name"] == "LINEAGE_CONSUMER"]
    assert consumer["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_pod_mounts_what_its_config_file_names() -> None:
    sts = statefulset()
    container = lineaged_container(sts)
    config_path = flag_value(container.get("args", []), "--config")
    assert config_path, "the container passes --config"
    config_mount = mount_for(container, config_path)
    assert config_mount, f"{config_path} is on a volume"
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    config_map = volumes[config_mount["name"]]["configMap"]["name"]
    (generator,) = [
        g for g in kustomization()["configMapGenerator"] if g["name"] == config_map
    ]
    file_name = Path(config_path).name
    assert file_name in generator["files"], f"the ConfigMap holds {file_name}"

    settings = read_toml(K8S / file_name)
    data_mount = mount_for(container, settings["data-dir"])
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    assert data_mount and data_mount["mountPath"] == settings["data-dir"]
    assert data_mount["name"] in claims, "each pod's log is on its own claim"
    access_mount = mount_for(container, settings["access-file"])
    assert access_mount and "secret" in volumes[access_mount["name"]], (
        "the access file comes from a Secret"
    )
    ports = container_ports(container)
    assert port_of(settings["grpc-addr"]) in ports
    assert port_of(settings["http-addr"]) in ports


def test_services_select_the_pods_and_target_declared_ports() -> None:
    sts = statefulset()
    labels = sts["spec"]["template"]["metadata"]["labels"]
    ports = container_ports(lineaged_container(sts))
    services = objects_of_kind("Service")
    assert {svc["spec"].get("clusterIP") == "None" for svc in services} == {True, False}, (
        "a headless Service and one for clients"
    )
    for svc in services:
        assert selects(svc["spec"]["selector"], labels), svc["metadata"]["name"]
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in ports, f"{svc['metadata']['name']} targets {target}"


def test_the_disruption_budget_covers_the_pods() -> None:
    labels = statefulset()["spec"]["template"]["metadata"]["labels"]
    (pdb,) = objects_of_kind("PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["minAvailable"] == 1


def test_kustomize_builds_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 0, built.stderr
    objects = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
    (sts,) = [o for o in objects if o["kind"] == "StatefulSet"]
    # The generated name (with its content hash) is the one mounted.
    names = [
        v["configMap"]["name"] for v in sts["spec"]["template"]["spec"]["volumes"] if "configMap" in v
    ]
    assert names == [config_map["metadata"]["name"]]


# --------------------------------------------------------------- Compose


def test_compose_depends_on_names_services() -> None:
    services = compose_services()
    for name, service in services.items():
        depends = service.get("depends_on") or []
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in services, f"{name} depends on {dependency}"


def test_compose_mounts_files_that_exist_and_volumes_that_are_declared() -> None:
    declared = set((compose().get("volumes") or {}).keys())
    for name, service in compose_services().items():
        for source, _ in bind_mounts(service):
            if source.startswith((".", "/")):
                assert (COMPOSE_DIR / source).exists(), f"{name} mounts {source}"
            else:
                assert source in declared, f"{name}'s volume {source} is declared"
        build = service.get("build")
        if isinstance(build, dict):
            context = (COMPOSE_DIR / build["context"]).resolve()
            assert (context / build["dockerfile"]).is_file(), name


def test_each_lineaged_replica_has_its_own_consumer_and_data_volume(lineaged: Path) -> None:
    replicas = {n: s for n, s in compose_services().items() if is_lineaged(s)}
    assert len(replicas) >= 2, "read replicas"
    consumers, data_volumes = {}, {}
    for name, service in replicas.items():
        config = mounted_config(service)
        assert config and config.is_file(), f"{name} mounts its config file"
        # The settings the replica starts with, as the binary layers them.
        env = {k: v for k, v in environment_of(service).items() if k.startswith("LINEAGE_")}
        settings = check_config(lineaged, config, env)
        consumers[name] = settings["consumer"]
        volume = [src for src, target in bind_mounts(service) if target == settings["data-dir"]]
        assert len(volume) == 1, f"{name}'s data dir is a volume"
        data_volumes[name] = volume[0]
    assert len(set(consumers.values())) == len(replicas), f"distinct consumers: {consumers}"
    assert len(set(data_volumes.values())) == len(replicas), f"distinct volumes: {data_volumes}"


def test_the_replicas_share_one_field_secret_so_their_logs_are_identical() -> None:
    sources = set()
    for name, service in compose_services().items():
        if not is_lineaged(service):
            continue
        config = mounted_config(service)
        assert config is not None, name
        secret_file = read_toml(config).get("field-secret-file")
        assert secret_file, f"{name} names a field secret"
        mounts = [
            (src, target)
            for src, target in bind_mounts(service)
            if secret_file.startswith(target.rstrip("/") + "/")
        ]
        assert len(mounts) == 1, f"{name} mounts its field secret"
        sources.add(mounts[0][0])
    assert len(sources) == 1, f"one secret for every replica: {sources}"


def test_the_replicas_use_every_nats_node_and_replicate_their_streams() -> None:
    services = compose_services()
    nats_hosts = {s.get("hostname", n) for n, s in services.items() if is_nats(s)}
    assert len(nats_hosts) == 3
    for name, service in services.items():
        if not is_lineaged(service):
            continue
        config = mounted_config(service)
        assert config is not None
        settings = read_toml(config)
        urls = settings["nats-url"].split(",")
        assert {re.sub(r"^\w+://", "", u).rsplit(":", 1)[0] for u in urls} == nats_hosts, name
        assert settings["stream-replicas"] == len(nats_hosts), name
        health = " ".join(service["healthcheck"]["test"])
        assert f"/{port_of(settings['http-addr'])}" in health, f"{name} checks its HTTP port"
        assert "/readyz" in health, name
        depends = service.get("depends_on") or {}
        assert {s for s in depends} >= {n for n, s in services.items() if is_nats(s)}, name


def test_the_nats_nodes_route_to_each_other_as_the_production_cluster_does() -> None:
    services = compose_services()
    nodes = {name: service for name, service in services.items() if is_nats(service)}
    configs = set()
    server_names = set()
    for name, service in nodes.items():
        mounts = dict((target, source) for source, target in bind_mounts(service))
        config_path = flag_value(service.get("command") or [], "--config")
        assert config_path in mounts, f"{name} mounts its config"
        configs.add((COMPOSE_DIR / mounts[config_path]).resolve())
        server_names.add(environment_of(service)["NATS_SERVER_NAME"])
    assert len(server_names) == len(nodes), "each node has its own name"
    (config,) = configs
    text = config.read_text(encoding="utf-8")
    assert "server_name: $NATS_SERVER_NAME" in text
    cluster = nats_block(text, "cluster")
    route_port = port_of(nats_setting(cluster, "listen"))
    routes = re.findall(r'"nats-route://([^:"]+):(\d+)"', cluster)
    hosts = {service.get("hostname", name) for name, service in nodes.items()}
    assert {host for host, _ in routes} == hosts, "the routes name every node"
    assert {int(port) for _, port in routes} == {route_port}
    production = (DEPLOY / "nats" / "cluster" / "node-1.conf").read_text(encoding="utf-8")
    for key in ("max_payload", "lame_duck_duration"):
        assert nats_setting(text, key) == nats_setting(production, key), key
    assert nats_setting(cluster, "name") == nats_setting(nats_block(production, "cluster"), "name")
    assert "jetstream" in text


# ------------------------------------------------------------ Dockerfile


def test_the_dockerfile_builds_in_one_stage_and_runs_in_another_as_non_root() -> None:
    global_args, stages = dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    names = {}
    for stage in stages:
        for instruction, rest in stage.instructions:
            if instruction == "COPY" and "--from=" in rest:
                source = re.search(r"--from=(\S+)", rest).group(1)
                assert source in names or (source.isdigit() and int(source) < stage.index), (
                    f"COPY --from={source} names an earlier stage"
                )
        if stage.name:
            names[stage.name] = stage.index
    final = stages[-1]
    users = [rest for instruction, rest in final.instructions if instruction == "USER"]
    assert users, "the final stage sets USER"
    user = expand(users[-1], {**global_args, **final.args}).split(":")[0]
    assert user not in {"root", "0", ""}, user
    assert user == str(IMAGE_UID), "the uid the manifests name"
    entrypoints = [rest for instruction, rest in final.instructions if instruction == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["lineaged"]


def test_the_image_exposes_and_contains_what_its_config_file_names() -> None:
    global_args, stages = dockerfile_stages()
    final = stages[-1]
    exposed = {
        int(port.split("/")[0])
        for instruction, rest in final.instructions
        if instruction == "EXPOSE"
        for port in rest.split()
    }
    settings = read_toml(DEPLOY / "container" / "lineaged.toml")
    assert {port_of(settings["grpc-addr"]), port_of(settings["http-addr"])} <= exposed
    env = " ".join(rest for instruction, rest in final.instructions if instruction == "ENV")
    config_in_image = re.search(r"LINEAGE_CONFIG=(\S+)", env).group(1)
    copies = [
        rest.split()
        for instruction, rest in final.instructions
        if instruction == "COPY" and "--from" not in rest
    ]
    assert any(words[-1] == config_in_image for words in copies), (
        "the image holds the config file LINEAGE_CONFIG names"
    )


def test_the_build_context_holds_what_the_build_copies() -> None:
    patterns = dockerignore_patterns()
    for pattern in ("target/", ".local/", ".git/"):
        assert pattern in patterns, f".dockerignore keeps {pattern} out"
    assert any(".venv" in p for p in patterns), "virtualenvs stay out"
    _, stages = dockerfile_stages()
    for stage in stages:
        for instruction, rest in stage.instructions:
            if instruction not in {"COPY", "ADD"} or "--from" in rest:
                continue
            sources = [w for w in rest.split() if not w.startswith("--")][:-1]
            for source in sources:
                if source == ".":
                    continue
                assert (REPO / source).exists(), f"{source} exists"
                assert not ignored(source, patterns), f"{source} is in the context"
    # cargo --locked needs every member of the workspace.
    workspace = read_toml(REPO / "Cargo.toml")["workspace"]
    for member in workspace["members"] + ["Cargo.lock", "proto"]:
        assert not ignored(member, patterns), f"{member} is in the context"


def test_the_dockerignore_reader_understands_the_patterns_used() -> None:
    patterns = ["target/", "**/.venv/", "*.swp"]
    assert ignored("target/debug/lineaged", patterns)
    assert ignored("scripts/python/.venv/bin/python", patterns)
    assert ignored("notes.swp", patterns)
    assert not ignored("crates/lineage-server/src/main.rs", patterns)


# ------------------------------------------------- lineaged config files


@pytest.mark.parametrize(
    "config", lineaged_configs(), ids=lambda p: str(p.relative_to(REPO))
)
def test_every_lineaged_config_file_is_accepted_by_lineaged(lineaged: Path, config: Path) -> None:
    settings = check_config(lineaged, config)
    # Every key of the file is in effect as written: the file is read.
    for key, value in read_toml(config).items():
        assert settings[key] == value, f"{config}: {key}"


def test_a_variable_beats_the_file_in_the_binary(lineaged: Path) -> None:
    settings = check_config(
        lineaged, K8S / "lineaged.toml", {"LINEAGE_CONSUMER": "lineaged-1"}
    )
    assert settings["consumer"] == "lineaged-1", "the pod's name, as the StatefulSet sets it"


def test_lineaged_config_files_are_the_ones_the_deployments_use() -> None:
    used = {
        DEPLOY / "lineaged.toml",  # lineaged.service's --config
        DEPLOY / "container" / "lineaged.toml",  # the image's
        K8S / "lineaged.toml",  # the ConfigMap's
    } | {mounted_config(s) for s in compose_services().values() if is_lineaged(s)}
    assert set(lineaged_configs()) == used
    unit = (DEPLOY / "lineaged.service").read_text(encoding="utf-8")
    assert "--config /etc/lineage/lineaged.toml" in unit

