"""What an app sees inside its container, and what the build caches: requirements from the wheel
cache, HF's environment variables, uid 1000, limits, loopback-only ports."""

from __future__ import annotations

import json

import docker
import pytest
from gradio_client import Client

from tests.helpers import WorkTree, api, output, space_url

PROBE_APP = '''
import json, os
import gradio as gr
import humanize

KEYS = ["SPACE_ID", "SPACE_HOST", "SPACE_AUTHOR_NAME", "SPACE_REPO_NAME", "SPACE_TITLE",
        "CPU_CORES", "MEMORY", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT"]

def probe(_):
    return json.dumps({"env": {k: os.environ.get(k) for k in KEYS}, "uid": os.getuid(), "cwd": os.getcwd(),
                       "humanize": humanize.intcomma(1234567), "version": "v1"})

gr.Interface(fn=probe, inputs="text", outputs="text", api_name="probe").launch()
'''

PROBE_README = """---
title: Probe Space
sdk: gradio
app_file: app.py
app_port: 8000
---
"""


def probe_tree(path) -> WorkTree:
    tree = WorkTree(path, example=None)
    tree.write("README.md", PROBE_README)
    tree.write("app.py", PROBE_APP)
    tree.write("requirements.txt", "# what the probe needs beyond Gradio\nhumanize==4.12.3\n")
    tree.commit("probe")
    return tree


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A running Space with a requirements.txt, pushed once for the module: (space_id, owner, tree, push output)."""
    from tests.helpers import create_user

    owner = create_user()
    tree = probe_tree(tmp_path_factory.mktemp("probe"))
    run = tree.push(owner.name, "probe", owner)
    assert run.returncode == 0, output(run)
    yield f"{owner.name}/probe", owner, tree, output(run)
    api("DELETE", f"/api/spaces/{owner.name}/probe", owner)


def call_probe(space_id: str) -> dict:
    sub = api("GET", f"/api/spaces/{space_id}").json()["subdomain"]
    return json.loads(Client(space_url(sub), verbose=False).predict("x", api_name="/probe"))


def test_app_sees_hf_environment_as_uid_1000(probe):
    space_id, owner, _, _ = probe
    seen = call_probe(space_id)
    assert seen["uid"] == 1000
    assert seen["cwd"] == "/home/user/app"
    assert seen["humanize"] == "1,234,567"  # requirements.txt was installed
    env = seen["env"]
    assert env["SPACE_ID"] == space_id
    assert env["SPACE_HOST"] == f"{owner.name}-probe.spaces.localhost"
    assert env["SPACE_AUTHOR_NAME"] == owner.name and env["SPACE_REPO_NAME"] == "probe"
    assert env["SPACE_TITLE"] == "Probe Space"
    assert env["GRADIO_SERVER_NAME"] == "0.0.0.0" and env["GRADIO_SERVER_PORT"] == "8000"  # app_port
    assert env["CPU_CORES"] and env["MEMORY"]


def test_container_is_confined(probe):
    space_id = probe[0]
    (container,) = docker.from_env().containers.list(filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    host = container.attrs["HostConfig"]
    assert container.attrs["Config"]["User"] == "1000:1000"
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
    assert not host.get("Binds") and not host.get("Privileged")
    ports = container.attrs["NetworkSettings"]["Ports"]
    assert list(ports) == ["8000/tcp"]  # app_port from README.md
    assert ports["8000/tcp"] and all(b["HostIp"] == "127.0.0.1" for b in ports["8000/tcp"])


def test_same_requirements_in_another_space_reuse_the_installed_layer(probe, user, tmp_path, track):
    space_id = track(f"{user.name}/probe2", user)
    tree = probe_tree(tmp_path / "again")
    run = tree.push(user.name, "probe2", user)
    text = output(run)
    assert run.returncode == 0, text
    assert "requirements unchanged: reusing spaces-deps:" in text
    assert "Downloading" not in text and "resolving requirements.txt" not in text
    assert call_probe(space_id)["humanize"] == "1,234,567"


def test_code_only_change_does_not_reinstall(probe):
    space_id, owner, tree, _ = probe
    tree.write("app.py", PROBE_APP.replace('"v1"', '"v2"'))
    tree.commit("code only")
    run = tree.push(owner.name, "probe", owner)
    text = output(run)
    assert run.returncode == 0, text
    assert "requirements unchanged" in text and "pip install" not in text and "Downloading" not in text
    assert call_probe(space_id)["version"] == "v2"
