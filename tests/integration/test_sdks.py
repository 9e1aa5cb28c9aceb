"""One Space of each SDK, pushed with git and reached through Traefik, plus what each SDK's
inputs mean: sdk_version, packages.txt, pre-requirements.txt, mapped Docker bases."""

from __future__ import annotations

import json

import httpx
from gradio_client import Client

from tests.helpers import WorkTree, api, output, runtime, space_url


def push_example(example: str, user, track, tmp_path, name: str | None = None, edit=None):
    name = name or example.removeprefix("hello-")
    space_id = track(f"{user.name}/{name}", user)
    tree = WorkTree(tmp_path / name, example=example)
    if edit:
        edit(tree)
    tree.commit(example)
    run = tree.push(user.name, name, user)
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"]) if run.returncode == 0 else ""
    return space_id, url, output(run)


def test_static_space_is_served_without_a_process_of_its_own(user, track, tmp_path):
    space_id, url, text = push_example("hello-static", user, track, tmp_path)
    assert "Your Space is running" in text, text
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and "Hello from a static Space" in page.text
    css = httpx.get(url + "assets/style.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert httpx.get(url + "missing.html", timeout=10).status_code == 404
    import docker

    assert docker.from_env().containers.list(filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True) == []


def test_static_app_file_in_a_folder_is_the_home_page(user, track, tmp_path):
    def edit(tree):
        tree.write("README.md", "---\nsdk: static\napp_file: site/home.html\n---\n")
        tree.write("site/home.html", "<h1>home page</h1>")
        tree.write("site/about.html", "<h1>about page</h1>")
        tree.write("secret.txt", "not under site/")

    _space_id, url, text = push_example("hello-static", user, track, tmp_path, name="static-folder", edit=edit)
    assert "Your Space is running" in text, text
    assert "home page" in httpx.get(url, timeout=10).text
    assert "about page" in httpx.get(url + "about.html", timeout=10).text
    assert httpx.get(url + "secret.txt", timeout=10).status_code == 404  # only the app file's folder is served


def test_docker_space_from_python_slim_runs_as_uid_1000(user, track, tmp_path):
    space_id, url, text = push_example("hello-docker", user, track, tmp_path)
    assert "FROM python:3.11-slim → spaces-python-slim:3.11" in text, text
    assert "Your Space is running" in text, text
    body = httpx.get(url, timeout=10).json()
    assert body == {"message": "Hello from a Docker Space", "space": space_id, "uid": 1000}


def test_docker_space_can_pip_install_like_on_hugging_face(user, track, tmp_path):
    def edit(tree):
        dockerfile = (tree.path / "Dockerfile").read_text().replace(
            "COPY --chown=user", "RUN pip install --no-cache-dir humanize==4.12.3\nCOPY --chown=user")
        tree.write("Dockerfile", dockerfile)
        tree.write("server.py", (tree.path / "server.py").read_text().replace(
            '"uid": os.getuid()}', '"uid": os.getuid(), "big": __import__("humanize").intword(3000000)}'))

    _space_id, url, text = push_example("hello-docker", user, track, tmp_path, name="docker-pip", edit=edit)
    assert "Your Space is running" in text, text
    assert httpx.get(url, timeout=10).json()["big"] == "3.0 million"


def test_streamlit_space_answers(user, track, tmp_path):
    _space_id, url, text = push_example("hello-streamlit", user, track, tmp_path)
    assert "Your Space is running" in text, text
    assert httpx.get(url + "_stcore/health", timeout=10).text == "ok"
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and "<title>Streamlit</title>" in page.text


SYSTEM_PROBE = '''
import json, shutil, subprocess
import gradio as gr
import humanize, six

def probe(_):
    jq = subprocess.run(["jq", "-c", ".a"], input='{"a": [1, 2]}', capture_output=True, text=True).stdout.strip()
    return json.dumps({"gradio": gr.__version__, "jq": jq, "humanize": humanize.intcomma(1000), "six": six.__version__})

gr.Interface(fn=probe, inputs="text", outputs="text", api_name="probe").launch()
'''


def test_sdk_version_packages_and_pre_requirements(user, track, tmp_path):
    def edit(tree):
        tree.write("README.md", '---\nsdk: gradio\nsdk_version: "6.30.0"\nfancy_new_key: 1\n---\n')
        tree.write("app.py", SYSTEM_PROBE)
        tree.write("packages.txt", "# Debian packages\njq\n")
        tree.write("pre-requirements.txt", "humanize==4.12.3\n")
        tree.write("requirements.txt", "six==1.17.0\n")

    space_id, url, text = push_example("hello-gradio", user, track, tmp_path, name="sysprobe", edit=edit)
    assert "Your Space is running" in text, text
    assert "warning: unknown README.md key 'fancy_new_key' is ignored" in text
    # Layers, oldest first: Debian packages, pre-requirements, requirements, then the code.
    import docker

    (container,) = docker.from_env().containers.list(filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    steps = [layer["CreatedBy"] for layer in reversed(container.image.history())]
    where = [next(i for i, step in enumerate(steps) if marker in step)
             for marker in ("apt-get install", "spaces-pre-requirements.txt", "spaces-requirements.txt")]
    code = max(i for i, step in enumerate(steps) if "COPY" in step and "in /home/user/app" in step)
    assert where == sorted(where) and code > where[-1], steps
    seen = json.loads(Client(url, verbose=False).predict("x", api_name="/probe"))
    assert seen == {"gradio": "6.30.0", "jq": "[1,2]", "humanize": "1,000", "six": "1.17.0"}


def test_build_history_records_every_build(user, track, tmp_path):
    space_id, _url, _text = push_example("hello-static", user, track, tmp_path, name="history")
    builds = api("GET", f"/api/spaces/{space_id}/builds").json()
    assert len(builds) == 1
    assert builds[0]["status"] == "succeeded" and builds[0]["durationSeconds"] > 0
    assert builds[0]["queuedAt"].endswith("Z") and len(builds[0]["commit"]) == 40
    assert runtime(space_id)["stage"] == "RUNNING"
