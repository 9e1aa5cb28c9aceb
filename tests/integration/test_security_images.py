"""Issue 11, item 8: a Docker Space's build reaches no image but the public-base stand-ins and its own stages.

User A has a private Docker Space whose code holds a marker, and whose build leaves another marker
in a BuildKit cache mount. User B then tries every route from a Dockerfile to A's image — FROM,
COPY --from, RUN --mount from=, a # syntax frontend, a base from a Space variable — and each push
ends in BUILD_ERROR naming the line, with A's markers in none of B's build logs and no image
built. A legitimate multi-stage Dockerfile of B's (with a cache mount of the same id as A's, and a
BUILDKIT_SYNTAX variable naming A's image) still builds and runs, and sees none of A's markers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import docker
import httpx
import pytest

from tests.helpers import User, WorkTree, api, create_user, eventually, output, runtime, space_url, unique, wait_stage

SERVER = (
    "import json, os\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "SECRET = {secret!r}\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        body = json.dumps({{'space': os.environ.get('SPACE_ID'), 'stage': open('/srv/stage.txt').read().strip()}}).encode()\n"
    "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)\n"
    "ThreadingHTTPServer(('0.0.0.0', 7860), H).serve_forever()\n"
)


@dataclass
class Victim:
    owner: User
    space_id: str
    image: str  # A's private image, as tagged in the host's Docker
    code_marker: str
    cache_marker: str

    def leaked(self, text: str) -> bool:
        return self.code_marker in text or self.cache_marker in text


@pytest.fixture(scope="module")
def victim(platform, tmp_path_factory) -> Iterator[Victim]:
    owner, name = create_user(), "vault"
    space_id = f"{owner.name}/{name}"
    code_marker, cache_marker = unique("private-code-"), unique("cache-left-by-a-")
    tree = WorkTree(tmp_path_factory.mktemp("victim"), example="hello-docker")
    tree.write("server.py", SERVER.format(secret=code_marker))
    tree.write("Dockerfile", (
        "FROM python:3.11-slim\n"
        f"RUN --mount=type=cache,target=/cache,id=shared-pip sh -c 'echo {cache_marker} > /cache/left-by-a'\n"
        "RUN mkdir -p /srv && echo victim > /srv/stage.txt\n"
        "COPY server.py /srv/server.py\nUSER 1000\nCMD [\"python\", \"/srv/server.py\"]\n"))
    tree.commit("private code")
    try:
        run = tree.push(owner.name, name, owner)
        assert "Your Space is running" in output(run), output(run)
        assert api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"private": True}).status_code == 200
        tags = [t for i in docker.from_env().images.list(filters={"label": f"org.spaces.space={space_id}"}) for t in i.tags]
        assert tags, "the victim's image is not in the host's Docker"
        yield Victim(owner, space_id, tags[0], code_marker, cache_marker)
    finally:
        api("DELETE", f"/api/spaces/{space_id}", owner)


def build_logs(space_id: str, user: User) -> list[str]:
    builds = api("GET", f"/api/spaces/{space_id}/builds", user).json()
    return [api("GET", f"/api/spaces/{space_id}/logs/build?build={b['id']}", user).text for b in builds]


def image_contains(image, needle: bytes) -> bool:
    """Whether the saved image (every layer) holds ``needle``, read as a stream."""
    tail = b""
    for chunk in image.save(named=False):
        if needle in tail + chunk:
            return True
        tail = chunk[-len(needle):]
    return False


def test_every_route_to_another_spaces_image_is_a_build_error(victim, tmp_path, track):
    attacker = create_user()
    space_id = track(f"{attacker.name}/probe", attacker)
    tree = WorkTree(tmp_path / "probe", example="hello-docker")
    app = "/home/user/app/server.py"
    routes = [
        (f"FROM {victim.image}\n", "line 1: base image", "the platform's own images"),
        (f"FROM python:3.11-slim\nCOPY --from={victim.image} {app} /leak.py\nRUN cat /leak.py\n",
         "line 2: COPY --from=", "not an earlier stage"),
        (f"FROM python:3.11-slim\nRUN --mount=type=bind,from={victim.image},target=/v cat /v{app}\n",
         "line 2: RUN --mount=", "not an earlier stage"),
        (f"FROM python:3.11-slim\nRUN --mount=type=cache,from={victim.image},target=/v cat /v{app}\n",
         "line 2: RUN --mount=", "not an earlier stage"),
        (f"# syntax={victim.image}\nFROM python:3.11-slim\n", "line 1: '# syntax=", "frontend"),
        ("ARG BASE=python:3.11-slim\nFROM $BASE\nCOPY . /x\n", "line 2: FROM $BASE", "given by a build argument"),
        (f"FROM python:3.11-slim AS a\nFROM python:3.11-slim\nCOPY \\\n  --from=2 {app} /x\n", "line 3: COPY --from=2",
         "not an earlier stage"),
    ]
    for number, (dockerfile, where, why) in enumerate(routes):
        tree.write("Dockerfile", dockerfile)
        tree.commit(f"route {number}")
        run = tree.push(attacker.name, "probe", attacker)
        assert "BUILD_ERROR" in output(run), (dockerfile, output(run))
        message = runtime(space_id)["errorMessage"]
        assert f"Dockerfile {where}" in message and why in message, (dockerfile, message)
        assert not victim.leaked(output(run) + message)
        if number == 0:  # the base named by a build argument comes from a Space variable
            assert api("POST", f"/api/spaces/{space_id}/variables", attacker,
                       json={"key": "BASE", "value": victim.image}).status_code == 200
    logs = build_logs(space_id, attacker)
    assert len(logs) >= len(routes)
    assert not any(victim.leaked(log) for log in logs)
    assert docker.from_env().images.list(filters={"label": f"org.spaces.space={space_id}"}) == []


def test_a_multi_stage_build_still_runs_and_sees_nothing_of_another_space(victim, tmp_path, track):
    user = create_user()
    space_id = track(f"{user.name}/stages", user)
    tree = WorkTree(tmp_path / "stages", example="hello-docker")
    tree.write("server.py", SERVER.format(secret="nothing to hide"))
    tree.write("Dockerfile", (
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim AS builder\n"
        "RUN --mount=type=cache,target=/cache,id=shared-pip \\\n"
        "    sh -c 'echo \"cache holds: $(cat /cache/left-by-a 2>/dev/null || echo nothing)\"'\n"
        "RUN mkdir -p /out && echo built-in-stage-one > /out/stage.txt\n"
        "FROM debian:bookworm-slim AS unused\n"
        "FROM python:3.11-slim\n"
        "COPY --from=builder /out/stage.txt /srv/stage.txt\n"
        "COPY --from=0 /out/stage.txt /srv/stage-by-number.txt\n"
        "COPY server.py /srv/server.py\n"
        "USER 1000\n"
        "CMD [\"python\", \"/srv/server.py\"]\n"))
    tree.commit("multi-stage")
    run = tree.push(user.name, "stages", user)
    assert "Your Space is running" in output(run), output(run)
    text = output(run)
    assert "'# syntax=docker/dockerfile:1' ignored" in text and "cache holds: nothing" in text
    assert not victim.leaked(text)
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    assert httpx.get(url, timeout=10).json() == {"space": space_id, "stage": "built-in-stage-one"}

    # A variable BuildKit would read as its frontend image stays out of the build; the rebuild works.
    assert api("POST", f"/api/spaces/{space_id}/variables", user,
               json={"key": "BUILDKIT_SYNTAX", "value": victim.image}).status_code == 200
    builds = api("GET", f"/api/spaces/{space_id}/builds", user).json()
    assert len(builds) == 2
    assert eventually(lambda: api("GET", f"/api/spaces/{space_id}/builds", user).json()[0]["status"]
                      in {"succeeded", "failed", "superseded"}, timeout=180, every=0.5)
    assert api("GET", f"/api/spaces/{space_id}/builds", user).json()[0]["status"] == "succeeded"
    last = api("GET", f"/api/spaces/{space_id}/logs/build?build={builds[0]['id']}", user).text
    assert "variables not passed to the build (BuildKit's own settings): BUILDKIT_SYNTAX" in last
    wait_stage(space_id, {"RUNNING"}, timeout=180)
    assert not any(victim.leaked(log) for log in build_logs(space_id, user))
    images = docker.from_env().images.list(filters={"label": f"org.spaces.space={space_id}"})
    assert images
    for image in images:
        assert not image_contains(image, victim.code_marker.encode())
        assert not image_contains(image, victim.cache_marker.encode())
