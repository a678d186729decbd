"""docker-compose.yml, its cluster override and the Dockerfile, checked without a Docker engine.

The files are validated against the Compose Specification's JSON schema, as vendored (with its
checksum) by the check-jsonschema package; then each service's command is parsed by the real
`lessonq` parser, and each LESSONQ_* variable must be a setting with a valid value.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import tomllib
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml

from tests.ops.commands import check_lessonq_command, check_settings
from tests.support.settings import REPO

FILES = ["docker-compose.yml", "docker-compose.cluster.yml"]
KUBECONFIG_TARGET = "/etc/lessonq/kubeconfig"


@cache
def compose_validator() -> jsonschema.protocols.Validator:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendored / "compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / name).read_text())
    return document


def problems(document: object) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in compose_validator().iter_errors(document)
    )


@pytest.mark.parametrize("name", FILES)
def test_compose_files_follow_the_compose_specification(name: str) -> None:
    assert problems(load(name)) == []


def test_the_schema_refuses_what_compose_would() -> None:
    compose = load("docker-compose.yml")
    compose["services"]["worker"]["scale_to"] = 3
    compose["services"]["beat"]["command"] = 42
    found = problems(compose)
    assert any("services/beat/command: 42" in problem for problem in found), found
    assert any("'scale_to' was unexpected" in problem for problem in found), found


def lessonq_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") in ("lessonq:dev", "lessonq-kubesim:dev")
    }


def test_every_lessonq_service_runs_a_real_command_with_real_settings() -> None:
    compose = load("docker-compose.yml")
    services = lessonq_services(compose)
    commands = {
        name: check_lessonq_command(service["command"]) for name, service in services.items()
    }
    assert commands == {
        "kubesim": "sim",
        "intake": "intake",
        "worker": "worker",
        "beat": "beat",
        "flower": "flower",
    }
    for service in services.values():
        check_settings(service.get("environment", {}))
    override = load("docker-compose.cluster.yml")
    for service in override["services"].values():
        check_settings(service.get("environment", {}))


def _option(command: list[str], name: str) -> str:
    found = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}=")]
    assert len(found) == 1, command
    return found[0]


def test_ports_scaling_and_persistence() -> None:
    services = load("docker-compose.yml")["services"]
    for name in ("intake", "flower"):
        published = services[name]["ports"]
        port = _option(services[name]["command"], "port")
        assert published == [f"127.0.0.1:{port}:{port}"], name
    # `--scale worker=N` needs a worker without fixed host ports or a container name.
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]
    redis = services["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_workers_reach_kubesim_and_the_override_swaps_the_kubeconfig() -> None:
    services = load("docker-compose.yml")["services"]
    worker = services["worker"]
    assert worker["environment"]["LESSONQ_KUBECONFIG"] == KUBECONFIG_TARGET
    source, target, mode = worker["volumes"][0].split(":")
    assert (target, mode) == (KUBECONFIG_TARGET, "ro")
    kubeconfig = yaml.safe_load((REPO / source).read_text())
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    assert server == f"http://kubesim:{_option(services['kubesim']['command'], 'port')}"
    # Compose merges volumes by their target: the override's kubeconfig replaces kubesim's.
    override = load("docker-compose.cluster.yml")["services"]
    mounts = [volume.rsplit(":", 2)[1:] for volume in override["worker"]["volumes"]]
    assert mounts == [[KUBECONFIG_TARGET, "ro"]]
    assert override["kubesim"]["profiles"]


def stages() -> dict[str, tuple[str | None, str]]:
    """The Dockerfile's stages: name -> (the stage it builds on, or None, and its text)."""
    found: dict[str, tuple[str | None, str]] = {}
    for chunk in re.split(r"^(?=FROM )", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE):
        header = re.match(r"FROM (\S+) AS (\S+)\n", chunk)
        if header is not None:
            base, name = header.groups()
            found[name] = (base if base in found else None, chunk)
    return found


def image(target: str | None = None) -> str:
    """What one image is built from: its stage and the stages under it, bottom first."""
    all_stages = stages()
    name: str | None = target or list(all_stages)[-1]  # docker builds the last by default
    chain = []
    while name is not None:
        base, text = all_stages[name]
        chain.append(text)
        name = base
    return "".join(reversed(chain))


def packages() -> list[str]:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    return [package.rstrip("*") for package in setuptools["packages"]["find"]["include"]]


def test_the_dockerfile_builds_the_console_script() -> None:
    production = image()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.+)$", production, re.MULTILINE)[1])
    assert entrypoint == ["lessonq"] and scripts["lessonq"] == "scheduler.cli:main"
    for target in stages():
        for command in re.findall(r"^CMD (.+)$", image(target), re.MULTILINE):
            check_lessonq_command(json.loads(command))
    for line in re.findall(r"^COPY (.+)$", (REPO / "Dockerfile").read_text(), re.MULTILINE):
        *sources, _ = line.split()
        assert all((REPO / source).exists() for source in sources), line
    for package in packages():
        assert f"COPY {package} {package}\n" in production, package


def test_the_production_image_holds_neither_kubesim_nor_its_validator() -> None:
    production = image()
    copied = {line.split()[0] for line in re.findall(r"^COPY (.+)$", production, re.MULTILINE)}
    assert copied.isdisjoint({"kubesim", "devstack", "tests", "bench", "."}), copied
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in dependencies if re.match(r"(kubesim|kubernetes-validate)\b", d)]
    assert not {"kubesim*", "devstack*"} & set(packages())
    # The development stack's cluster comes from an image of its own, built on the same one.
    kubesim = image("kubesim")
    assert kubesim.startswith(production.split("FROM lessonq AS production")[0].rstrip())
    assert re.search(r"^RUN pip install \S*kubesim", kubesim, re.MULTILINE)
    compose = load("docker-compose.yml")["services"]
    assert compose["kubesim"]["build"]["target"] == "kubesim"
    assert all(
        "target" not in service.get("build", {})
        for name, service in compose.items()
        if isinstance(service.get("build"), dict) and name != "kubesim"
    )


def test_the_dockerfile_installs_dependencies_in_a_layer_of_their_own() -> None:
    """Dependencies from pyproject.toml alone, before any source: editing code keeps that layer."""
    steps = re.findall(r"^(COPY|RUN) (.+?)(?<!\\)$", image(), re.MULTILINE | re.DOTALL)
    copies = [
        (index, args.split()[:-1]) for index, (kind, args) in enumerate(steps) if kind == "COPY"
    ]
    installs = [
        index for index, (kind, args) in enumerate(steps) if kind == "RUN" and "pip install" in args
    ]
    assert len(installs) == 2, steps
    dependencies, project = installs
    before = [source for index, sources in copies if index < dependencies for source in sources]
    assert before == ["pyproject.toml"]
    assert (
        "-r " in steps[dependencies][1] and '["project"]["dependencies"]' in steps[dependencies][1]
    )
    assert steps[project][1].strip() == "pip install --no-deps ."
    sources = {source for index, sources in copies if index < project for source in sources}
    assert set(packages()) <= sources
    assert "README.md" in sources  # pyproject's readme, read when the project is built
