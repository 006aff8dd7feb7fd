"""deploy/docker-compose.yml hangs together: files, volumes, ports, names and commands agree.

Compose cannot run here, so this checks the file structurally against the repository: every
bind-mounted file exists (or is a documented generated secret), the broker's published ports are
its configured listeners, the sink's and the daemon's command lines parse with the real CLI and
point at the services and ports the stack provides, and Grafana's provisioning finds the
dashboard and the database the stack creates.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from posturewatch.app.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROOT = DEPLOY.parent
GENERATED = {"mosquitto/passwd"}  # made by mosquitto/make-passwd.sh, never committed
HOST_PATHS = {"/run/dbus"}  # the host's system D-Bus, for BlueZ


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def services(compose) -> dict[str, dict]:
    return compose["services"]


def mounts(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each short-syntax volume entry."""
    out = []
    for entry in service.get("volumes", []):
        source, target, *_ = entry.split(":")
        out.append((source, target))
    return out


def bind_source(source: str) -> Path:
    return (DEPLOY / source).resolve()


def mount_for(service: dict, container_path: str) -> tuple[str, str]:
    """The mount whose target holds ``container_path``."""
    best = None
    for source, target in mounts(service):
        inside = container_path == target or container_path.startswith(target.rstrip("/") + "/")
        if inside and (best is None or len(target) > len(best[1])):
            best = (source, target)
    assert best is not None, f"{container_path} is not on any mount of the service"
    return best


def host_file(service: dict, container_path: str) -> Path:
    source, target = mount_for(service, container_path)
    assert source.startswith("."), f"{container_path} lives in a named volume, not in the repo"
    return bind_source(source) / Path(container_path).relative_to(target)


def published(service: dict) -> dict[int, int]:
    """container port → host port."""
    out = {}
    for spec in service.get("ports", []):
        host, container = str(spec).split("/")[0].rsplit(":", 2)[-2:]
        out[int(container)] = int(host)
    return out


def mosquitto_conf() -> dict[str, list[str]]:
    conf: dict[str, list[str]] = {}
    for line in (DEPLOY / "mosquitto" / "mosquitto.conf").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf.setdefault(key, []).append(value.strip())
    return conf


def test_services_images_and_dependencies(compose):
    svc = services(compose)
    assert set(svc) == {"mosquitto", "influxdb", "grafana", "posturewatch", "sink"}
    for name, service in svc.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag"
        for dependency in service.get("depends_on", []):
            assert dependency in svc, f"{name} depends on unknown service {dependency}"
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_every_bind_mount_exists_and_every_volume_is_declared(compose):
    declared = set(compose.get("volumes") or {})
    used = set()
    gitignore = (DEPLOY / ".gitignore").read_text().split()
    readme = (DEPLOY / "README.md").read_text()
    for name, service in services(compose).items():
        for source, target in mounts(service):
            assert target.startswith("/"), f"{name}: {target}"
            if source.startswith("."):
                rel = bind_source(source).relative_to(DEPLOY).as_posix()
                if rel in GENERATED:
                    assert rel in gitignore and rel.split("/")[-1] in readme
                else:
                    assert bind_source(source).exists(), f"{name} mounts missing {source}"
            elif source.startswith("/"):
                assert source in HOST_PATHS, f"{name} mounts unexpected host path {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared


def test_environment_variables_are_documented_in_env_example():
    text = (DEPLOY / "docker-compose.yml").read_text()
    example = (DEPLOY / ".env.example").read_text()
    defined = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
    assert set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text)) <= defined


def test_broker_ports_files_and_users_match_the_mosquitto_config(compose):
    broker = services(compose)["mosquitto"]
    conf = mosquitto_conf()
    listeners = {int(v.split()[0]) for v in conf["listener"]}
    assert set(published(broker)) == listeners
    assert conf["allow_anonymous"] == ["false"]
    for key in ("password_file", "acl_file"):
        (path,) = conf[key]
        source, _ = mount_for(broker, path)
        rel = bind_source(source).relative_to(DEPLOY).as_posix()
        assert rel in GENERATED or host_file(broker, path).is_file()
    source, _ = mount_for(broker, conf["persistence_location"][0].rstrip("/"))
    assert not source.startswith(".")  # broker state in a named volume, not in the repo
    assert mount_for(broker, "/mosquitto/config/mosquitto.conf")[0] == "./mosquitto/mosquitto.conf"


def test_sink_command_parses_and_points_at_the_stack(compose):
    svc = services(compose)
    sink = svc["sink"]
    args = build_parser(sink["command"]).parse_args(sink["command"])
    assert args.command == "sink"
    assert args.mqtt_host == "mosquitto" and args.mqtt_port in published(svc["mosquitto"])
    influx = urlparse(args.influx_url)
    assert influx.hostname == "influxdb" and influx.port in published(svc["influxdb"])
    init = svc["influxdb"]["environment"]
    assert (args.org, args.bucket) == (init["DOCKER_INFLUXDB_INIT_ORG"], init["DOCKER_INFLUXDB_INIT_BUCKET"])
    assert args.worker == 0 and "volumes" not in sink  # stateless: the broker holds what is unacked
    acl = (DEPLOY / "mosquitto" / "acl").read_text().split("\n")
    assert f"user {args.mqtt_user}" in acl
    env = sink["environment"]
    assert "POSTUREWATCH_MQTT_PASSWORD" in env and "POSTUREWATCH_INFLUX_TOKEN" in env
    assert env["POSTUREWATCH_INFLUX_TOKEN"] == init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]


def test_daemon_runs_the_example_config_with_host_bluetooth(compose):
    svc = services(compose)
    daemon = svc["posturewatch"]
    args = build_parser(daemon["command"]).parse_args(daemon["command"])
    assert args.command == "run"
    config_file = host_file(daemon, args.config)
    assert config_file == DEPLOY / "posturewatch.toml" and config_file.is_file()
    assert daemon["network_mode"] == "host"
    assert ("/run/dbus", "/run/dbus") in mounts(daemon)
    config = tomllib.loads(config_file.read_text())
    # host networking: the broker and the database are reached through their published ports
    assert config["mqtt"]["host"] in ("localhost", "127.0.0.1")
    assert config["mqtt"]["port"] in published(svc["mosquitto"]).values()
    influx = urlparse(config["influx"]["url"])
    assert influx.hostname in ("localhost", "127.0.0.1")
    assert influx.port in published(svc["influxdb"]).values()
    init = svc["influxdb"]["environment"]
    assert config["influx"]["org"] == init["DOCKER_INFLUXDB_INIT_ORG"]
    assert config["influx"]["bucket"] == init["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert config["mqtt"]["username"] == config["user"]  # the ACL grants posturewatch/<login>/#


def test_grafana_provisioning_finds_datasource_and_dashboard(compose):
    svc = services(compose)
    grafana = svc["grafana"]
    provisioning = host_file(grafana, "/etc/grafana/provisioning")
    datasources = [
        d for f in sorted((provisioning / "datasources").glob("*.yml"))
        for d in yaml.safe_load(f.read_text())["datasources"]
    ]
    (influx,) = datasources
    url = urlparse(influx["url"])
    assert url.hostname == "influxdb" and url.port in published(svc["influxdb"])
    init = svc["influxdb"]["environment"]
    assert influx["jsonData"]["organization"] == init["DOCKER_INFLUXDB_INIT_ORG"]
    assert influx["jsonData"]["defaultBucket"] == init["DOCKER_INFLUXDB_INIT_BUCKET"]
    token_var = influx["secureJsonData"]["token"].lstrip("$").strip("{}")
    assert grafana["environment"][token_var] == init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    providers = [
        p for f in sorted((provisioning / "dashboards").glob("*.yml"))
        for p in yaml.safe_load(f.read_text())["providers"]
    ]
    (provider,) = providers
    dashboards = host_file(grafana, provider["options"]["path"])
    assert (dashboards / "posturewatch.json").is_file()
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert host_file(grafana, home).is_file()
    for depends in (grafana.get("depends_on") or {}):
        assert depends in svc


def test_dockerfile_copies_every_source_folder():
    text = (DEPLOY / "Dockerfile").read_text()
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    copied = set()
    for line in text.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            *sources, _dest = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                copied.add(source.rstrip("/"))
    assert set(mapping.values()) | {"pyproject.toml", "README.md"} <= copied
    ignore_file = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    ignored = {line.strip().rstrip("/") for line in ignore_file if line.strip() and not line.startswith("#")}
    assert not copied & ignored
    assert 'ENTRYPOINT ["posturewatch"]' in text


def test_dockerfile_build_context_is_enough_to_build_the_wheel(tmp_path):
    """What the Dockerfile copies (and nothing else) builds the package, as `pip wheel .` does."""
    context = tmp_path / "src"
    context.mkdir()
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY") and "--from" not in line:
            *sources, dest = line.split()[1:]
            for source in sources:
                src = ROOT / source
                if src.is_dir():
                    shutil.copytree(src, context / dest, ignore=shutil.ignore_patterns("__pycache__"),
                                    dirs_exist_ok=True)
                else:
                    shutil.copy(src, context / (Path(source).name if dest == "./" else dest))
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "dist"), str(context)],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    wheel = next((tmp_path / "dist").glob("posturewatch-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for package in packages:
        assert f"{package.replace('.', '/')}/__init__.py" in names
