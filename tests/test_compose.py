"""compose.yaml cannot run here (no Docker engine): check that it says what the code expects."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from graph.neo4j import is_uri
from newsgraph.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text("utf-8"))
    return loaded


def service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"][name]
    return found


def test_services_are_neo4j_and_the_api(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"neo4j", "api"}


def test_neo4j_is_a_pinned_5_image_with_a_data_volume(compose: dict[str, Any]) -> None:
    neo4j = service(compose, "neo4j")
    assert re.fullmatch(r"neo4j:5\.\d+(\.\d+)?(-community|-enterprise)?", neo4j["image"])
    mounts = [v.split(":") for v in neo4j["volumes"]]
    assert ["neo4j-data", "/data"] in mounts
    assert "neo4j-data" in compose["volumes"]


def test_neo4j_healthcheck_runs_return_1_in_cypher_shell(compose: dict[str, Any]) -> None:
    check = service(compose, "neo4j")["healthcheck"]
    command = " ".join(check["test"])
    assert "cypher-shell" in command and "'RETURN 1'" in command
    env = service(compose, "neo4j")["environment"]
    # cypher-shell logs in with these; the same password as NEO4J_AUTH sets
    assert env["NEO4J_USERNAME"] == "neo4j"
    assert env["NEO4J_AUTH"] == "neo4j/" + env["NEO4J_PASSWORD"]


def test_the_api_waits_for_a_healthy_neo4j(compose: dict[str, Any]) -> None:
    api = service(compose, "api")
    assert api["depends_on"]["neo4j"]["condition"] == "service_healthy"
    assert api["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8")
    assert 'ENTRYPOINT ["newsgraph"]' in dockerfile
    assert api["command"][0] == "serve"


def test_api_environment_is_what_newsgraph_settings_read(compose: dict[str, Any]) -> None:
    env = service(compose, "api")["environment"]
    known = {f"NEWSGRAPH_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, set(env) - known
    assert {"NEWSGRAPH_STORE", "NEWSGRAPH_NEO4J_USER", "NEWSGRAPH_NEO4J_PASSWORD"} <= set(env)
    store = env["NEWSGRAPH_STORE"]
    assert is_uri(store)
    # the URI names the neo4j service and the Bolt port it listens on
    assert store == "bolt://neo4j:7687"
    assert any(p.endswith(":7687") for p in service(compose, "neo4j")["ports"])
    assert env["NEWSGRAPH_NEO4J_USER"] == service(compose, "neo4j")["environment"]["NEO4J_USERNAME"]


def test_api_port_is_the_port_it_serves_on(compose: dict[str, Any]) -> None:
    api = service(compose, "api")
    command = api["command"]
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert any(p.endswith(f":{port}") for p in api["ports"])
    # healthy when the store answers (/ready: 503, which urlopen raises on, when it does not)
    assert f"{port}/ready" in " ".join(api["healthcheck"]["test"])


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for name in compose["services"]:
        for port in service(compose, name).get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_credentials_come_only_from_env_file(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.yaml").read_text("utf-8")
    for name in ("neo4j", "api"):
        for key, value in service(compose, name)["environment"].items():
            if "PASSWORD" in key or key == "NEO4J_AUTH":
                assert "${NEWSGRAPH_NEO4J_PASSWORD:?" in str(value), key
    used = set(VARIABLE.findall(text))
    example = (ROOT / ".env.example").read_text("utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, re.MULTILINE))
    assert used <= documented, used - documented
    ignored = (ROOT / ".gitignore").read_text("utf-8").splitlines()
    assert ".env" in ignored
    assert not (ROOT / ".env.example").read_text("utf-8").count("PASSWORD=neo4j")
