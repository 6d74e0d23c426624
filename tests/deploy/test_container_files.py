"""The container files, checked without a container engine (CI has none):
the Containerfile does what the README says the image does, the compose file parses and
provisions Prometheus, Alertmanager and Grafana from the repository's own files, and every
address those files name meets in the shared network namespace.

``deploy/container/build-and-check.sh`` builds and runs the image for real (podman, Debian's
packages); it needs root, a container runtime and the package mirrors, so it is run by hand.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from starlette.routing import Route

from failover.api import create_app
from failover.cli import main
from failover.config import load_config
from tests.api.test_api import FakeBackend, metrics_registry

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = ROOT / "deploy" / "container"
CONTAINERFILE = CONTAINER / "Containerfile"
COMPOSE = CONTAINER / "compose.yaml"
README = ROOT / "README.md"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Containerfile, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "a continuation line ends the file"
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in logical
    ]


def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage: what the image is."""
    steps = instructions(CONTAINERFILE.read_text(encoding="utf-8"))
    last_from = max(i for i, (name, _) in enumerate(steps) if name == "FROM")
    return steps[last_from:]


def one(stage: list[tuple[str, str]], name: str) -> str:
    found = [arguments for instruction, arguments in stage if instruction == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def environment(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, arguments in stage:
        if instruction == "ENV":
            for word in shlex.split(arguments):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def readme_commands(title: str) -> list[list[str]]:
    """Every command of the section's shell blocks, continuation lines joined, as argv."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", readme_section(title), re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            for command in line.split(" && "):
                words = shlex.split(command, comments=True)
                if words:
                    commands.append(words)
    return commands


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def bind_mounts(service: Mapping[str, Any]) -> dict[str, Path]:
    """target → source of a service's bind mounts (relative sources), resolved."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            mounts[target] = (CONTAINER / source).resolve()
    return mounts


def cli_commands() -> set[str]:
    ctx = click.Context(main, info_name="failover")
    return set(main.list_commands(ctx))


class TestContainerfile:
    """The image is what the README says it is."""

    def test_debian_slim_base_by_default(self) -> None:
        steps = instructions(CONTAINERFILE.read_text(encoding="utf-8"))
        assert steps[0] == ("ARG", "BASE=docker.io/library/debian:bookworm-slim")
        assert [arguments for name, arguments in steps if name == "FROM"] == ["${BASE} AS build", "${BASE}"]

    def test_a_non_root_user(self) -> None:
        stage = runtime_stage()
        assert one(stage, "USER") == "failover"
        run = " ".join(arguments for name, arguments in stage if name == "RUN")
        assert "useradd --no-log-init --uid 10001" in run
        section = readme_section("Container")
        assert "unprivileged user `failover` (uid 10001)" in section

    def test_state_in_a_volume_the_database_default_uses(self) -> None:
        stage = runtime_stage()
        assert json.loads(one(stage, "VOLUME")) == ["/var/lib/failover"]
        assert environment(stage)["STATE_DIRECTORY"] == "/var/lib/failover"
        assert "the volume `/var/lib/failover`" in readme_section("Container")

    def test_the_entry_point_and_command_are_the_documented_ones(self) -> None:
        stage = runtime_stage()
        entrypoint, command = json.loads(one(stage, "ENTRYPOINT")), json.loads(one(stage, "CMD"))
        assert (entrypoint, command) == (["failover"], ["run"])
        assert command[0] in cli_commands()
        assert "entry point is `failover` and default command `run`" in readme_section("Container")

    def test_the_healthcheck_asks_an_endpoint_the_api_serves(self) -> None:
        stage = runtime_stage()
        healthcheck = one(stage, "HEALTHCHECK")
        assert "FAILOVER_HEALTHCHECK_URL" in healthcheck
        url = environment(stage)["FAILOVER_HEALTHCHECK_URL"]
        assert url == "http://127.0.0.1:9464/healthz"
        path = url.split("9464", 1)[1]
        app = create_app(FakeBackend(), token=None, metrics=metrics_registry())
        routes = {route.path: route.methods for route in app.routes if isinstance(route, Route)}
        assert "GET" in (routes[path] or set())
        assert "`HEALTHCHECK`\nasks `GET /healthz` on `127.0.0.1:9464`" in readme_section("Container")

    def test_the_port_is_the_default_listen_port(self) -> None:
        assert one(runtime_stage(), "EXPOSE") == "9464"
        assert load_config(None, env={}).daemon.listen.port == 9464

    def test_the_build_copies_only_what_the_package_needs(self) -> None:
        copies = [arguments for name, arguments in instructions(CONTAINERFILE.read_text()) if name == "COPY"]
        sources = {
            word for arguments in copies if "--from" not in arguments for word in arguments.split()[:-1]
        }
        assert sources == {"pyproject.toml", "README.md", "src/"}
        for source in sources:
            assert (ROOT / source).exists()
        ignore = (CONTAINER / "Containerfile.dockerignore").read_text(encoding="utf-8")
        for source in sources:
            assert f"!{source}" in ignore.splitlines()


class TestReadme:
    """The README's container commands run the image as the Containerfile builds it."""

    def test_docker_run_mounts_the_config_and_the_volume_and_runs_cli_commands(self) -> None:
        runs = [argv for argv in readme_commands("Container") if argv[:2] == ["docker", "run"]]
        assert len(runs) == 2
        daemon, demo = runs
        mounts = [daemon[i + 1].split(":")[1] for i, word in enumerate(daemon) if word == "-v"]
        assert mounts == ["/etc/failover/failover.toml", "/var/lib/failover"]
        assert daemon[-1] == "failover"  # the image, with its default command: run
        assert demo[-2:] == ["failover", "demo"]
        assert "demo" in cli_commands()

    def test_docker_build_names_the_containerfile(self) -> None:
        builds = [argv for argv in readme_commands("Container") if argv[:2] == ["docker", "build"]]
        assert builds == [["docker", "build", "-f", "deploy/container/Containerfile", "-t", "failover", "."]]

    def test_compose_commands_name_the_file_and_its_services(self) -> None:
        composes = [argv for argv in readme_commands("Container") if argv[:2] == ["docker", "compose"]]
        assert composes
        services = set(compose()["services"])
        for argv in composes:
            assert argv[2:4] == ["-f", "deploy/container/compose.yaml"]
            if "exec" in argv:
                service, *command = argv[argv.index("exec") + 1 :]
                assert service in services
                assert command[0] == "failover"
                assert command[1] in cli_commands()

    def test_the_secret_file_is_the_one_compose_reads(self) -> None:
        secret = compose()["secrets"]["failover-api-token"]["file"]
        written = [argv for argv in readme_commands("Container") if argv[:2] == ["openssl", "rand"]]
        assert written == [
            ["openssl", "rand", "-hex", "32", ">", "deploy/container/secrets/failover-api-token"]
        ]
        assert (CONTAINER / secret).resolve() == ROOT / "deploy/container/secrets/failover-api-token"
        assert "/secrets/" in (CONTAINER / ".gitignore").read_text().splitlines()

    def test_the_check_script_is_documented_and_sound(self) -> None:
        script = CONTAINER / "build-and-check.sh"
        assert "`deploy/container/build-and-check.sh`" in readme_section("Container")
        assert script.stat().st_mode & 0o111
        syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert syntax.returncode == 0, syntax.stderr
        text = script.read_text(encoding="utf-8")
        assert "builtin = false" in text  # never the built-in catalog
        assert "--network=none" in text


class TestCompose:
    """Four services, provisioned from deploy/prometheus/ and grafana/, in one network namespace."""

    def test_the_services(self) -> None:
        services = compose()["services"]
        assert set(services) == {"failover", "prometheus", "alertmanager", "grafana"}
        build = services["failover"]["build"]
        assert (CONTAINER / build["context"] / build["dockerfile"]).resolve() == CONTAINERFILE
        for name in ("prometheus", "alertmanager", "grafana"):
            assert services[name]["network_mode"] == "service:failover"

    def test_failover_keeps_its_hardening_and_its_state(self) -> None:
        failover = compose()["services"]["failover"]
        assert failover["read_only"] is True
        assert failover["cap_drop"] == ["ALL"]
        assert "failover-state:/var/lib/failover" in failover["volumes"]
        assert "failover-state" in compose()["volumes"]
        assert all(port.startswith("127.0.0.1:") for port in failover["ports"])

    @pytest.mark.parametrize("service", ["failover", "prometheus", "alertmanager", "grafana"])
    def test_every_mounted_file_is_in_the_repository(self, service: str) -> None:
        mounts = bind_mounts(compose()["services"][service])
        assert mounts
        for source in mounts.values():
            assert source.exists(), source
            assert ROOT in source.parents

    def test_prometheus_scrapes_failover_where_it_listens_and_loads_the_rules(self, tmp_path: Path) -> None:
        mounts = bind_mounts(compose()["services"]["prometheus"])
        assert mounts["/etc/prometheus/prometheus.yml"] == ROOT / "deploy/prometheus/prometheus.yml"
        assert mounts["/etc/prometheus/failover.rules.yml"] == ROOT / "deploy/prometheus/failover.rules.yml"
        scrape = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
        assert scrape["rule_files"] == ["failover.rules.yml"]  # next to the configuration
        [job] = [job for job in scrape["scrape_configs"] if job["job_name"] == "failover"]
        assert job["static_configs"][0]["targets"] == [str(self.failover_listen(tmp_path))]
        [alertmanagers] = scrape["alerting"]["alertmanagers"]
        assert alertmanagers["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
        assert "--web.listen-address=:9093" in compose()["services"]["alertmanager"]["command"]

    def test_alertmanager_reaches_the_webhook_with_the_shared_token(self, tmp_path: Path) -> None:
        alertmanager = compose()["services"]["alertmanager"]
        mounts = bind_mounts(alertmanager)
        routing = yaml.safe_load(mounts["/etc/alertmanager/alertmanager.yml"].read_text())
        [receiver] = [r for r in routing["receivers"] if r["name"] == "failover"]
        [webhook] = receiver["webhook_configs"]
        assert webhook["url"] == f"http://{self.failover_listen(tmp_path)}/api/v1/alertmanager"
        token_file = webhook["http_config"]["authorization"]["credentials_file"]
        assert {"source": "failover-api-token", "target": token_file} in alertmanager["secrets"]
        assert "failover-api-token" in compose()["services"]["failover"]["secrets"]
        assert "${file:/run/secrets/failover-api-token}" in (CONTAINER / "failover.toml").read_text()

    def test_grafana_reads_prometheus_and_the_dashboard(self) -> None:
        mounts = bind_mounts(compose()["services"]["grafana"])
        datasource = yaml.safe_load(mounts["/etc/grafana/provisioning/datasources/failover.yml"].read_text())[
            "datasources"
        ][0]
        assert datasource["url"] == "http://127.0.0.1:9090"
        assert "--web.listen-address=:9090" in compose()["services"]["prometheus"]["command"]
        provider = yaml.safe_load(mounts["/etc/grafana/provisioning/dashboards/failover.yml"].read_text())
        path = provider["providers"][0]["options"]["path"]
        assert mounts[path] == ROOT / "grafana/dashboards"
        assert (ROOT / "grafana/dashboards/failover.json").is_file()

    @staticmethod
    def failover_listen(tmp_path: Path) -> str:
        """Where the compose configuration makes failover listen (its secret stood in for)."""
        token = tmp_path / "token"
        token.write_text("0123456789abcdef\n")
        text = (
            (CONTAINER / "failover.toml").read_text().replace("/run/secrets/failover-api-token", str(token))
        )
        path = tmp_path / "failover.toml"
        path.write_text(text)
        config = load_config(path, env={})
        assert config.daemon.api_token == "0123456789abcdef"
        return f"{config.daemon.listen.host}:{config.daemon.listen.port}"
