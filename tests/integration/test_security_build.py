"""Attacks on the build, as an ordinary user would make them with a `git push` (issue 11).

Each payload is harmless: it tries to create a marker file on the host, read a host file into the
build log, reach a host port, or get another tenant's wheel installed. Each must fail safely:
a clear stage and reason, the marker never on the host, nothing of the host in any log.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import docker
import pytest
import redis

from core.settings import get_settings
from tests.helpers import WorkTree, api, eventually, output, runtime

SETUP_PY = """\
import os, pathlib, sys
marker = pathlib.Path({marker!r})
try:
    marker.write_text("uid %d" % os.getuid())   # on the host this would be the proof of an escape
except OSError:
    pass
if {fail!r}:
    sys.exit("SANDBOX-UID %d" % os.getuid())
from setuptools import setup
setup(name={name!r}, version={version!r}, py_modules=[])
"""


def build_log(space_id: str, user) -> str:
    response = api("GET", f"/api/spaces/{space_id}/logs/build", user)
    events = [json.loads(line.removeprefix("data: ")) for line in response.text.splitlines() if line.startswith("data: ")]
    return "".join(event["data"] for event in events)


def push_space(tmp_path: Path, user, track, name: str, files: dict[str, str]) -> tuple[str, str]:
    space_id = track(f"{user.name}/{name}", user)
    tree = WorkTree(tmp_path / name)
    for path, content in files.items():
        tree.write(path, content)
    tree.commit(name)
    run = tree.push(user.name, name, user)
    return space_id, output(run)


def local_package(name: str, version: str, marker: str, *, fail: bool = False, folder: str = "pkg") -> dict[str, str]:
    return {f"{folder}/setup.py": SETUP_PY.format(marker=marker, name=name, version=version, fail=fail)}


@pytest.fixture
def marker() -> Path:
    path = Path(f"/tmp/spaces-pwned-{secrets.token_hex(6)}")
    yield path
    assert not path.exists(), f"{path} appeared on the host: build code ran outside its sandbox"


def test_build_code_runs_in_the_sandbox_not_on_the_host(user, track, tmp_path, marker):
    """A path requirement's setup.py runs (as on Hugging Face), but as uid 1000 in a container."""
    files = {**local_package("spaces-sandbox-probe", "0.1", str(marker), fail=True), "requirements.txt": "./pkg\n"}
    space_id, _out = push_space(tmp_path, user, track, "sdist", files)
    rt = runtime(space_id, user)
    assert rt["stage"] == "BUILD_ERROR"
    assert "SANDBOX-UID 1000" in build_log(space_id, user)
    assert not marker.exists()


def test_git_file_url_of_a_host_repository_fails_without_running_anything(user, track, tmp_path, marker):
    """The original exploit: a VCS requirement pointing at the Space's own bare repo on the host's disk."""
    own_repo = get_settings().repos_dir / f"{user.name}/gitfile.git"
    files = {**local_package("evil", "0.1", str(marker), folder="."), "requirements.txt": f"evil @ git+file://{own_repo}\n"}
    space_id, _out = push_space(tmp_path, user, track, "gitfile", files)
    assert own_repo.is_dir()
    rt = runtime(space_id, user)
    assert rt["stage"] == "BUILD_ERROR"
    assert "could not resolve the Python requirements" in rt["errorMessage"]
    assert not marker.exists()


@pytest.mark.parametrize("line", ["-r /var/lib/spaces/redis.password", "-c ../../../etc/shadow",
                                  "--requirement=/etc/shadow", "-r \\\n/etc/shadow", "-rfile:///etc/shadow"])
def test_requirement_includes_outside_the_repo_are_config_errors(user, track, tmp_path, line):
    space_id, _out = push_space(tmp_path, user, track, f"inc{secrets.token_hex(3)}", {"requirements.txt": f"{line}\n"})
    rt = runtime(space_id, user)
    assert rt["stage"] == "CONFIG_ERROR", rt
    assert "names a file outside the repository" in rt["errorMessage"]
    assert "may only name a file inside it" in rt["errorMessage"]
    log = build_log(space_id, user)
    key = get_settings().redis_password_file.read_text().strip()
    assert key not in log and key not in rt["errorMessage"]
    assert "root:" not in log


def test_index_options_pointing_at_host_ports_reach_nothing_on_the_host(user, track, tmp_path):
    """--index-url / --find-links at loopback resolve inside the sandbox: its own loopback, not the host's."""
    settings = get_settings()
    redis_log = settings.data_dir / "logs" / "redis.log"
    attacks_before = redis_log.read_text(errors="replace").count("SECURITY ATTACK")
    port = settings.redis_url.rsplit(":", 1)[1].split("/")[0]
    lines = f"--index-url http://127.0.0.1:{port}/\n--find-links {settings.data_dir}/cache\nspaces-not-in-any-cache\n"
    space_id, _out = push_space(tmp_path, user, track, "loopidx", {"requirements.txt": lines})
    rt = runtime(space_id, user)
    assert rt["stage"] == "BUILD_ERROR"
    assert "could not resolve the Python requirements" in rt["errorMessage"]
    assert redis_log.read_text(errors="replace").count("SECURITY ATTACK") == attacks_before


def test_a_wheel_one_tenant_built_is_never_installed_for_another(user, other_user, track, tmp_path, marker):
    """A's build makes a wheel 'humanize 99.0.1' from its own source; B asks for that exact release."""
    name, version = "humanize", "99.0.1"
    files = {**local_package(name, version, str(marker)), "requirements.txt": "./pkg\n"}
    _a_id, out = push_space(tmp_path, user, track, "poisoner", files)
    assert "Your Space is running" in out, out
    cache = get_settings().wheel_cache
    assert not list(cache.glob(f"{name}-{version}-*.whl")), "a built wheel reached the shared cache"
    assert list(get_settings().owner_wheel_cache(user.name).glob(f"{name}-{version}-*.whl"))
    b_id, out = push_space(tmp_path, other_user, track, "victim", {"requirements.txt": f"{name}=={version}\n"})
    rt = runtime(b_id, other_user)
    assert rt["stage"] == "BUILD_ERROR", "B installed a wheel that A's build produced"
    assert f"{name}=={version}" in rt["errorMessage"] or "No matching distribution" in rt["errorMessage"]


def test_index_wheels_are_shared_and_checked(user, other_user, track, tmp_path):
    """A wheel downloaded from the index goes to the shared cache with the index's own hash."""
    _a_id, out = push_space(tmp_path, user, track, "idx-a", {"requirements.txt": "humanize==4.8.0\n"})
    assert "Your Space is running" in out, out
    assert list(get_settings().wheel_cache.glob("humanize-4.8.0-*.whl"))
    b_id, out = push_space(tmp_path, other_user, track, "idx-b", {"requirements.txt": "humanize==4.8.0\n"})
    assert "Your Space is running" in out, out
    assert "requirements unchanged: reusing spaces-deps:" in build_log(b_id, other_user)


def test_redis_refuses_clients_without_the_password():
    settings = get_settings()
    port = int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=port).ping()
    assert oct(settings.redis_password_file.stat().st_mode & 0o777) == "0o600"


PROBE_SETUP_PY = """\
import json, os, socket, sys
def gateway():
    for line in open("/proc/net/route").read().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000":
            return socket.inet_ntoa(bytes.fromhex(fields[2])[::-1])
def probe(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "reachable"
    except OSError as exc:
        return type(exc).__name__
gw = gateway()
seen = {{name: probe(gw, port) for name, port in {targets!r}.items()}}
seen["uid"] = os.getuid()
seen["cap_eff"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0]
seen["docker.sock"] = os.path.exists("/var/run/docker.sock")
sys.exit("SANDBOX-PROBE " + json.dumps(seen))
"""


def test_a_build_sandbox_cannot_reach_the_control_plane(user, track, tmp_path):
    """Build code probes the host through the bridge gateway: Redis, the controller, the waker, Traefik's API."""
    settings = get_settings()
    targets = {"redis": int(settings.redis_url.rsplit(":", 1)[1].split("/")[0]), "controller": settings.controller_port,
               "waker": settings.waker_port, "traefik api": settings.traefik_api_port, "docker api": 2375}
    files = {"pkg/setup.py": PROBE_SETUP_PY.format(targets=targets), "requirements.txt": "./pkg\n"}
    space_id, _out = push_space(tmp_path, user, track, "probe", files)
    log = build_log(space_id, user)
    found = [json.loads(m) for m in re.findall(r"SANDBOX-PROBE (\{[^{}]*\})", log)]
    assert found, log[-2000:]
    seen = found[0]
    for name in targets:
        assert seen[name] != "reachable", f"{name} answers a build sandbox: {seen}"
    assert seen["uid"] == 1000 and int(seen["cap_eff"], 16) == 0 and seen["docker.sock"] is False


def test_a_superseded_build_stops_its_sandbox(user, track, tmp_path):
    """A build stuck in build code (setup.py sleeping) is superseded by a new push: its sandbox goes at once."""
    track(f"{user.name}/stuck", user)
    tree = WorkTree(tmp_path / "stuck")
    tree.write("pkg/setup.py", "import time\ntime.sleep(600)\n")
    tree.write("requirements.txt", "./pkg\n")
    tree.commit("stuck")
    tree.push(user.name, "stuck", user, "-o", "nowait")
    client = docker.from_env()

    def sandboxes() -> list:
        return [c for c in client.containers.list(filters={"label": "org.spaces.sandbox"}, ignore_removed=True)
                if user.name in c.labels.get("org.spaces.sandbox", "")]

    assert eventually(lambda: sandboxes(), timeout=60), "the build never reached its sandbox"
    tree.git("rm", "-q", "-r", "pkg", "requirements.txt")
    tree.commit("unstuck")
    run = tree.push(user.name, "stuck", user)
    assert "Your Space is running" in output(run), output(run)
    assert eventually(lambda: not sandboxes(), timeout=15), "the superseded build's sandbox is still running"
