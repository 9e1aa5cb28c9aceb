"""Variables and secrets: on HF's paths, in the app's environment, encrypted at rest, and never
shown — not in API answers, not in logs, not in image layers."""

from __future__ import annotations

import json
import stat
import time

import docker
import pytest
import redis
from gradio_client import Client

from core.envvars import key_path
from core.settings import get_settings
from tests.helpers import WorkTree, api, create_user, output, read_run_log, space_url, wait_stage

ENV_APP = '''
import json, os
import gradio as gr

def probe(_):
    return json.dumps({k: os.environ.get(k) for k in ("GREETING", "API_TOKEN")})

print("starting with token", os.environ.get("API_TOKEN"), flush=True)
if os.environ.get("CRASH") == "yes":
    raise SystemExit("crashing on purpose")
gr.Interface(fn=probe, inputs="text", outputs="text", api_name="probe").launch()
'''


@pytest.fixture(scope="module")
def env_space(tmp_path_factory):
    """A running Gradio Space whose app reports GREETING and API_TOKEN: (space_id, owner, url)."""
    owner = create_user()
    tree = WorkTree(tmp_path_factory.mktemp("env") / "repo", example=None)
    tree.write("README.md", "---\nsdk: gradio\n---\n")
    tree.write("app.py", ENV_APP)
    tree.commit("env probe")
    run = tree.push(owner.name, "envprobe", owner)
    assert run.returncode == 0, output(run)
    space_id = f"{owner.name}/envprobe"
    yield space_id, owner, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    api("DELETE", f"/api/spaces/{space_id}", owner)


def running_container(space_id: str):
    (container,) = docker.from_env().containers.list(filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    return container


def wait_restarted(space_id: str, before: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        containers = docker.from_env().containers.list(filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
        if len(containers) == 1 and containers[0].id != before and api("GET", f"/api/spaces/{space_id}/runtime").json()["stage"] == "RUNNING":
            return
        time.sleep(0.5)
    raise AssertionError(f"{space_id} was not restarted")


def probe(url: str) -> dict:
    return json.loads(Client(url, verbose=False).predict("x", api_name="/probe"))


def test_variable_and_secret_reach_the_app_and_nowhere_else(env_space):
    space_id, owner, url = env_space
    secret = f"s3cr3t-{time.time_ns()}"
    before = running_container(space_id).id
    greeting = {"key": "GREETING", "value": "bonjour", "description": "hi"}
    assert api("POST", f"/api/spaces/{space_id}/variables", owner, json=greeting).status_code == 200
    wait_restarted(space_id, before)
    before = running_container(space_id).id
    response = api("POST", f"/api/spaces/{space_id}/secrets", owner, json={"key": "API_TOKEN", "value": secret})
    assert response.status_code == 200 and secret not in response.text
    wait_restarted(space_id, before)
    assert probe(url) == {"GREETING": "bonjour", "API_TOKEN": secret}

    variables = api("GET", f"/api/spaces/{space_id}/variables").json()
    assert variables["GREETING"]["value"] == "bonjour" and variables["GREETING"]["updatedAt"].endswith("Z")
    secrets = api("GET", f"/api/spaces/{space_id}/secrets", owner)
    assert list(secrets.json()) == ["API_TOKEN"] and "value" not in secrets.json()["API_TOKEN"]
    for path in ("", "/runtime", "/variables", "/secrets", "/builds", "/logs/build"):
        assert secret not in api("GET", f"/api/spaces/{space_id}{path}", owner).text
    # The app printed it at start: its run log shows a mask instead; nor is it in the platform's own logs.
    run_log = "\n".join(read_run_log(space_id, owner))
    assert "starting with token ********" in run_log and secret not in run_log
    for log_file in (get_settings().data_dir / "logs").glob("*.log"):
        assert secret.encode() not in log_file.read_bytes(), log_file

    # Encrypted at rest: the value appears nowhere in Redis, and the key file is private.
    r = redis.Redis.from_url(get_settings().redis_url)
    for key in r.scan_iter(match=f"spaces:space:{space_id}*"):
        assert secret.encode() not in r.dump(key)
    assert stat.S_IMODE(key_path().stat().st_mode) == 0o600

    # Never in the image: neither its history nor its files.
    image = running_container(space_id).image
    assert all(secret not in (layer.get("CreatedBy") or "") for layer in image.history())
    assert secret.encode() not in b"".join(image.save())


def test_secret_printed_by_a_crashing_app_is_masked(env_space):
    space_id, owner, _url = env_space
    secret = "another-secret-value-42"
    assert api("POST", f"/api/spaces/{space_id}/secrets", owner, json={"key": "API_TOKEN", "value": secret}).status_code == 200
    assert api("POST", f"/api/spaces/{space_id}/variables", owner, json={"key": "CRASH", "value": "yes"}).status_code == 200
    rt = wait_stage(space_id, {"RUNTIME_ERROR"}, timeout=120, user=owner)  # log lines: owners only
    assert "starting with token ********" in rt["errorMessage"]
    assert secret not in rt["errorMessage"]
    log = api("GET", f"/api/spaces/{space_id}/logs/build").text
    assert secret not in log
    # The previous version keeps serving meanwhile; removing the crash switch brings the new one up.
    assert api("DELETE", f"/api/spaces/{space_id}/variables", owner, json={"key": "CRASH"}).status_code == 200
    wait_stage(space_id, {"RUNNING"}, timeout=120)


def test_variables_are_build_arguments_of_docker_spaces(user, track, tmp_path):
    space_id = track(f"{user.name}/buildargs", user)
    tree = WorkTree(tmp_path / "buildargs", example="hello-docker")
    tree.write("Dockerfile", "FROM python:3.11-slim\nARG FLAVOUR=plain\nRUN echo \"baking $FLAVOUR\" > /flavour\n"
                             "COPY server.py /srv/server.py\nUSER 1000\nCMD [\"python\", \"/srv/server.py\"]\n")
    tree.commit("build args")
    assert tree.push(user.name, "buildargs", user).returncode == 0
    assert api("POST", f"/api/spaces/{space_id}/variables", user, json={"key": "FLAVOUR", "value": "lemon"}).status_code == 200
    builds = api("GET", f"/api/spaces/{space_id}/builds").json()
    assert len(builds) == 2, "a variable change rebuilds a Docker Space"
    deadline = time.monotonic() + 120
    while True:
        containers = docker.from_env().containers.list(filters={"label": f"org.spaces.build={builds[0]['id']}"}, ignore_removed=True)
        if containers and api("GET", f"/api/spaces/{space_id}/runtime").json()["stage"] == "RUNNING":
            break
        assert time.monotonic() < deadline, "the rebuilt Space did not start"
        time.sleep(0.5)
    container = containers[0]
    assert container.exec_run(["cat", "/flavour"]).output.decode().strip() == "baking lemon"


def test_build_time_secret_is_mounted_for_one_step_and_kept_out_of_the_image(user, track, tmp_path):
    space_id = track(f"{user.name}/buildsecret", user)
    secret = f"build-secret-{time.time_ns()}"
    tree = WorkTree(tmp_path / "buildsecret", example="hello-docker")
    tree.write("Dockerfile", (
        "FROM python:3.11-slim\n"
        "RUN --mount=type=secret,id=API_TOKEN,mode=0444,required=true "
        "python3 -c \"import hashlib; print(hashlib.sha256(open('/run/secrets/API_TOKEN','rb').read()).hexdigest())\" > /token.sha\n"
        "RUN cat /run/secrets/API_TOKEN 2>/dev/null || echo 'no secret outside its step'\n"
        "COPY server.py /srv/server.py\nUSER 1000\nCMD [\"python\", \"/srv/server.py\"]\n"))
    tree.commit("build secret")
    run = tree.push(user.name, "buildsecret", user)  # no secret yet: required=true fails the build
    assert "BUILD_ERROR" in output(run)
    assert api("POST", f"/api/spaces/{space_id}/secrets", user, json={"key": "API_TOKEN", "value": secret}).status_code == 200
    wait_stage(space_id, {"RUNNING"}, timeout=180)
    container = running_container(space_id)
    import hashlib

    assert container.exec_run(["cat", "/token.sha"]).output.decode().strip() == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.encode() not in b"".join(container.image.save())
    assert all(secret not in (layer.get("CreatedBy") or "") for layer in container.image.history())
    log = api("GET", f"/api/spaces/{space_id}/logs/build").text
    assert "no secret outside its step" in log and secret not in log


def test_identical_dockerfiles_of_two_spaces_share_no_run_layer(tmp_path):
    """A RUN step built with one Space's secret is never served from cache to another Space."""
    dockerfile = ("FROM python:3.11-slim\nRUN --mount=type=secret,id=API_TOKEN,required=true "
                  f"sh -c 'cat /run/secrets/API_TOKEN > /leak' # {time.time_ns()}\n"
                  "COPY server.py /srv/server.py\nUSER 1000\nCMD [\"python\", \"/srv/server.py\"]\n")
    victim, attacker = create_user(), create_user()
    try:
        v_tree = WorkTree(tmp_path / "victim", example="hello-docker")
        v_tree.write("README.md", "---\nsdk: docker\n---\n")
        v_tree.write("Dockerfile", dockerfile)
        v_tree.commit("victim")
        v_tree.push(victim.name, "vault", victim, "-o", "nowait")
        api("POST", f"/api/spaces/{victim.name}/vault/secrets", victim, json={"key": "API_TOKEN", "value": "victim-secret"})
        deadline = time.monotonic() + 120
        while not any(b["status"] == "succeeded" for b in api("GET", f"/api/spaces/{victim.name}/vault/builds").json()):
            assert time.monotonic() < deadline, "the victim's build did not succeed"
            time.sleep(0.5)
        a_tree = WorkTree(tmp_path / "attacker", example="hello-docker")
        a_tree.write("README.md", "---\nsdk: docker\n---\n")
        a_tree.write("Dockerfile", dockerfile)
        a_tree.commit("attacker")
        run = a_tree.push(attacker.name, "copycat", attacker)
        # Without its own secret the step must run (and fail), not be served from the victim's cache.
        assert "BUILD_ERROR" in output(run) and "secret API_TOKEN not found" in output(run)
    finally:
        api("DELETE", f"/api/spaces/{victim.name}/vault", victim)
        api("DELETE", f"/api/spaces/{attacker.name}/copycat", attacker)
