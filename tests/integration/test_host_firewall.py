"""A service some other program on the host bound to ``0.0.0.0`` does not answer Spaces, nor
containers on Docker's default bridge (where image builds run): ``make up``'s firewall refuses
new connections from the containers' bridges to the host, and Spaces still serve."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import docker
import httpx
import pytest

from core.settings import get_settings
from tests.helpers import api, eventually, space_url

PROBE = r'''
import json, socket, sys
result = {}
for name, (host, port) in json.loads(sys.argv[1]).items():
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            conn.sendall(b"GET /marker.txt HTTP/1.0\r\n\r\n")
            result[name] = "reachable: " + conn.recv(200).decode(errors="replace").split("\r\n")[0]
    except OSError as exc:
        result[name] = type(exc).__name__
print(json.dumps(result))
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


@pytest.fixture
def host_listener(tmp_path):
    """A harmless web server of an unrelated program, on every host address."""
    (tmp_path / "marker.txt").write_text("host service\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "0.0.0.0", str(port)], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert eventually(lambda: _answers(f"http://127.0.0.1:{port}/marker.txt"), 10), "the host listener did not start"
        yield port
    finally:
        server.kill()
        server.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def host_addresses() -> dict[str, str]:
    """The host's own addresses as containers see them: each bridge's gateway and the main address."""
    client = docker.from_env()
    found = {}
    for network in (get_settings().space_network, "bridge"):
        for config in client.networks.get(network).attrs["IPAM"]["Config"] or []:
            if config.get("Gateway"):
                found[f"{network} gateway"] = config["Gateway"]
    main = subprocess.run(["ip", "-4", "-o", "route", "get", "192.0.2.123"], capture_output=True, text=True, check=False).stdout.split()
    if "src" in main:
        found["main address"] = main[main.index("src") + 1]
    return found


def probe(container_run, port: int) -> dict[str, str]:
    targets = {name: (address, port) for name, address in host_addresses().items()}
    assert len(targets) >= 2, targets
    return json.loads(container_run(["python3", "-c", PROBE, json.dumps(targets)]).strip().splitlines()[-1])


def test_a_space_cannot_reach_a_host_service_bound_to_all_addresses(platform, host_listener):
    url = space_url(api("GET", "/api/spaces/demo/hello-gradio").json()["subdomain"])
    assert httpx.get(url, timeout=60).status_code == 200  # awake
    (container,) = docker.from_env().containers.list(
        filters={"label": "org.spaces.space=demo/hello-gradio", "status": "running"}, ignore_removed=True)

    def run(argv: list[str]) -> str:
        result = container.exec_run(argv, user="1000")
        assert result.exit_code == 0, result.output.decode()
        return result.output.decode()

    started = time.monotonic()
    seen = probe(run, host_listener)
    for name, outcome in seen.items():
        assert not outcome.startswith("reachable"), f"the host's service answers a Space via its {name}: {seen}"
        assert outcome == "ConnectionRefusedError", seen  # refused at once, with a clear error, not left hanging
    assert time.monotonic() - started < 5
    assert _answers(f"http://127.0.0.1:{host_listener}/marker.txt")  # it is there: the host still reaches it
    assert httpx.get(url, timeout=10).status_code == 200  # and the Space still serves through Traefik


def test_a_container_on_dockers_default_bridge_cannot_reach_it_either(platform, host_listener):
    """Image builds (RUN steps) run on Docker's default bridge: the same rule holds there."""
    client = docker.from_env()
    (space,) = client.containers.list(filters={"label": "org.spaces.space=demo/hello-gradio"}, ignore_removed=True)

    def run(argv: list[str]) -> str:
        return client.containers.run(space.image.id, argv, network="bridge", user="1000", remove=True,
                                     cap_drop=["ALL"], entrypoint=[]).decode()

    seen = probe(run, host_listener)
    for name, outcome in seen.items():
        assert not outcome.startswith("reachable"), f"the host's service answers the default bridge via its {name}: {seen}"
