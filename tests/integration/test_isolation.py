"""What a Space can reach from inside its container: not Redis, not the controller's port, not
Traefik's API, not the Docker API, not another Space — and it runs unprivileged."""

from __future__ import annotations

import json

import docker
import pytest

from core.settings import get_settings
from tests.helpers import WorkTree, api, create_user, output

PROBE = r'''
import json, os, socket, sys
targets = json.loads(sys.argv[1])
result = {}
for name, (host, port) in targets.items():
    try:
        socket.create_connection((host, port), timeout=2).close()
        result[name] = "reachable"
    except OSError as exc:
        result[name] = type(exc).__name__
result["docker.sock"] = os.path.exists("/var/run/docker.sock")
result["uid"] = os.getuid()
result["cap_eff"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
try:
    open("/etc/spaces-probe", "w")
    result["root_fs_writable"] = True
except OSError:
    result["root_fs_writable"] = False
print(json.dumps(result))
'''


@pytest.fixture(scope="module")
def two_spaces(tmp_path_factory):
    """Two running Gradio Spaces of one user: their containers."""
    owner = create_user()
    containers = []
    for name in ("iso-a", "iso-b"):
        tree = WorkTree(tmp_path_factory.mktemp(name) / "repo")
        tree.commit(name)
        run = tree.push(owner.name, name, owner)
        assert run.returncode == 0, output(run)
        (container,) = docker.from_env().containers.list(filters={"label": f"org.spaces.space={owner.name}/{name}"}, ignore_removed=True)
        containers.append(container)
    yield containers
    for name in ("iso-a", "iso-b"):
        api("DELETE", f"/api/spaces/{owner.name}/{name}", owner)


def probe_from(container, targets: dict[str, tuple[str, int]]) -> dict:
    result = container.exec_run(["python", "-c", PROBE, json.dumps(targets)], user="1000")
    assert result.exit_code == 0, result.output.decode()
    return json.loads(result.output.decode().strip().splitlines()[-1])


def test_a_space_cannot_reach_the_platform_or_other_spaces(two_spaces):
    a, b = two_spaces
    settings = get_settings()
    network = a.attrs["NetworkSettings"]["Networks"][settings.space_network]
    gateway, b_ip = network["Gateway"], b.attrs["NetworkSettings"]["Networks"][settings.space_network]["IPAddress"]
    redis_port = int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    targets = {
        "redis via host": (gateway, redis_port),
        "controller via host": (gateway, settings.controller_port),
        "traefik api via host": (gateway, settings.traefik_api_port),
        "docker api via host": (gateway, 2375),
        "other space": (b_ip, 7860),
        "redis on its own loopback": ("127.0.0.1", redis_port),
    }
    seen = probe_from(a, targets)
    for name in targets:
        assert seen[name] != "reachable", f"{name} is reachable from inside a Space: {seen}"
    assert seen["docker.sock"] is False
    assert seen["uid"] == 1000
    assert int(seen["cap_eff"], 16) == 0, "the app has Linux capabilities"
    assert seen["root_fs_writable"] is False
    # The check itself can succeed: the Space does reach its own app port.
    own = probe_from(a, {"own app": ("127.0.0.1", 7860)})
    assert own["own app"] == "reachable"
