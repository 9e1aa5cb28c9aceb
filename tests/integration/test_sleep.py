"""Sleep and wake through the real Traefik: idle Spaces are paused then stopped, and a visit —
from a browser, gradio_client or plain httpx — wakes them without an error or a retry. Open
websockets keep a Space awake; an owner's pause holds until a restart."""

from __future__ import annotations

import time

import docker
import httpx
import pytest
from gradio_client import Client
from websockets.sync.client import connect

from core import keys
from core.store import get_redis
from tests.browser import Browser
from tests.helpers import (
    User,
    WorkTree,
    api,
    create_user,
    monitor_pass_after,
    output,
    runtime,
    space_url,
    wait_stage,
)

# A Gradio app with a websocket echo endpoint beside the interface.
WS_APP = '''
import os

import gradio as gr
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()


@app.websocket("/ws")
async def echo(socket: WebSocket):
    await socket.accept()
    try:
        while True:
            await socket.send_text(await socket.receive_text())
    except WebSocketDisconnect:
        pass


def greet(name: str) -> str:
    return f"Hello, {name}!"


print("wake secret:", os.environ.get("WAKE_SECRET"), flush=True)
demo = gr.Interface(fn=greet, inputs="text", outputs="text", api_name="greet")
app = gr.mount_gradio_app(app, demo, path="/")
uvicorn.run(app, host="0.0.0.0", port=7860)
'''


@pytest.fixture(scope="module")
def sleepy(tmp_path_factory) -> tuple[str, str, User]:
    """A running Gradio Space with a websocket endpoint: (space_id, url, owner)."""
    owner = create_user()
    tree = WorkTree(tmp_path_factory.mktemp("sleepy") / "repo")
    tree.write("app.py", WS_APP)
    tree.write("requirements.txt", "websockets\n")  # uvicorn's websocket support, as a user would add it
    tree.commit("gradio with a websocket")
    run = tree.push(owner.name, "sleepy", owner)
    assert run.returncode == 0, output(run)
    space_id = f"{owner.name}/sleepy"
    yield space_id, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"]), owner
    api("DELETE", f"/api/spaces/{space_id}", owner)


def container_status(space_id: str) -> str:
    (container,) = docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)
    return container.status


def wait_status(space_id: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while container_status(space_id) != status:
        assert time.monotonic() < deadline, f"the container of {space_id} stayed {container_status(space_id)}, not {status}"
        time.sleep(0.2)


def set_sleep(space_id: str, owner: User, seconds: object) -> httpx.Response:
    return api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": seconds})


def marked_active_after(space_id: str, moment: float, timeout: float = 60) -> None:
    """Wait until the sleeper has marked the Space active (``last_active``, what it writes when it
    finds the Space busy) at ``moment`` or later; fails at once if the Space falls asleep meanwhile."""
    r = get_redis()
    deadline = time.monotonic() + timeout
    while True:
        record = r.hgetall(keys.space(space_id))
        assert record.get("stage") == "RUNNING", f"{space_id} is {record.get('stage')}: it did not stay awake"
        if float(record.get("last_active") or 0) >= moment:
            return
        assert time.monotonic() < deadline, f"the sleeper never marked {space_id} active after {moment}"
        time.sleep(0.2)


def sleep_deeply(space_id: str, owner: User) -> None:
    """Let the Space fall asleep down to the stopped tier, then keep it from sleeping once woken."""
    set_sleep(space_id, owner, 1)
    wait_stage(space_id, {"SLEEPING"}, timeout=30)
    wait_status(space_id, "exited")
    set_sleep(space_id, owner, -1)


def test_idle_space_is_paused_then_stopped_and_gradio_client_wakes_it(sleepy):
    space_id, url, owner = sleepy
    assert set_sleep(space_id, owner, 2).json()["gcTimeout"] == 2
    wait_stage(space_id, {"SLEEPING"}, timeout=30)
    wait_status(space_id, "paused")
    # Paused: a gradio_client call is answered as if the Space had never slept.
    assert Client(url, verbose=False).predict("paused", api_name="/greet") == "Hello, paused!"
    assert runtime(space_id)["stage"] == "RUNNING"
    # Left alone, it sleeps again, and after as long again its container is stopped.
    wait_stage(space_id, {"SLEEPING"}, timeout=30)
    wait_status(space_id, "exited")
    # Held until the app has started again: longer than gradio_client's default 5 s read timeout
    # on a loaded machine (the wake time itself is measured by bench/lifecycle.py).
    slow_start = {"timeout": 60}
    assert Client(url, verbose=False, httpx_kwargs=slow_start).predict("stopped", api_name="/greet") == "Hello, stopped!"
    assert container_status(space_id) == "running"
    set_sleep(space_id, owner, -1)


def test_plain_http_client_is_held_until_the_app_answers(sleepy):
    space_id, url, owner = sleepy
    sleep_deeply(space_id, owner)
    response = httpx.get(url + "config", timeout=120)  # no retry: the first answer is the app's
    assert response.status_code == 200, response.text[:300]
    assert response.json()["mode"] == "interface"


def test_browser_gets_a_wake_page_with_the_startup_log_then_the_app(sleepy):
    space_id, url, owner = sleepy
    secret = "wake-page-secret-4e5d6c"
    assert api("POST", f"/api/spaces/{space_id}/secrets", owner, json={"key": "WAKE_SECRET", "value": secret}).status_code == 200
    wait_stage(space_id, {"RUNNING_APP_STARTING", "APP_STARTING"}, timeout=30)
    wait_stage(space_id, {"RUNNING"}, timeout=120)
    sleep_deeply(space_id, owner)
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = httpx.get(url, headers=browser, timeout=30)
    assert page.status_code == 200 and "Waking up" in page.text and space_id in page.text
    assert "/__spaces/wake-status" in page.text
    # What the page's script polls: the stage and the app's real log, until it is ready.
    deadline = time.monotonic() + 120
    logs: list[str] = []
    while time.monotonic() < deadline:
        status = httpx.get(url + "__spaces/wake-status", timeout=30)
        if status.headers.get("x-spaces-waker"):
            data = status.json()
            assert not data["error"], data
            logs = data["log"] or logs
            if data["ready"]:
                break
        else:
            break  # Traefik already sends this path to the app itself: it is up
        time.sleep(0.3)
    else:
        raise AssertionError("the Space did not wake within 120 s")
    assert any("Running on" in line or "Uvicorn running" in line or "Started server" in line for line in logs), logs
    assert "wake secret: ********" in logs and not any(secret in line for line in logs), logs
    final = httpx.get(url, headers=browser, timeout=30)
    assert final.status_code == 200 and "gradio" in final.text.lower() and "Waking up" not in final.text


def test_open_websocket_keeps_the_space_awake(sleepy):
    space_id, url, owner = sleepy
    ws_url = url.replace("http://", "ws://") + "ws"
    # A websocket opened to a sleeping Space wakes it and is relayed until Traefik routes to the app.
    set_sleep(space_id, owner, 1)
    wait_stage(space_id, {"SLEEPING"}, timeout=30)
    set_sleep(space_id, owner, -1)
    with connect(ws_url, open_timeout=60) as socket:
        socket.send("wake up")
        assert socket.recv(timeout=10) == "wake up"
    assert runtime(space_id)["stage"] == "RUNNING"
    with connect(ws_url, open_timeout=30) as socket:
        socket.send("hello")
        assert socket.recv(timeout=10) == "hello"
        set_sleep(space_id, owner, 2)
        # Four sleep times with no request, only the open socket: the sleeper, which looks every
        # second, has found the socket open and marked the Space active that late.
        marked_active_after(space_id, time.time() + 4 * 2)
        assert runtime(space_id)["stage"] == "RUNNING"
        assert container_status(space_id) == "running"
        socket.send("still here")
        assert socket.recv(timeout=10) == "still here"
    wait_stage(space_id, {"SLEEPING"}, timeout=30)
    set_sleep(space_id, owner, -1)


def test_owner_pause_holds_until_restart(sleepy, other_user):
    space_id, url, owner = sleepy
    httpx.get(url, timeout=120)  # awake
    assert api("POST", f"/api/spaces/{space_id}/pause", other_user).status_code == 403
    response = api("POST", f"/api/spaces/{space_id}/pause", owner)
    assert response.status_code == 200 and response.json()["stage"] == "PAUSED"
    wait_status(space_id, "exited")
    visit = httpx.get(url, timeout=30)
    assert visit.status_code == 503 and "paused by its owner" in visit.json()["error"]
    page = httpx.get(url, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 503 and "paused by its owner" in page.text
    # Neither the visits (answered above) nor the monitor's next pass over the Space wake it.
    monitor_pass_after(time.time())
    assert runtime(space_id)["stage"] == "PAUSED" and container_status(space_id) == "exited"
    assert api("POST", f"/api/spaces/{space_id}/restart", owner).status_code == 200
    wait_stage(space_id, {"RUNNING"}, timeout=120)
    assert Client(url, verbose=False).predict("back", api_name="/greet") == "Hello, back!"


def test_real_browser_sees_the_startup_log_then_the_app_by_itself(sleepy):
    """Headless Chromium opens a stopped Space: the wake page shows the app's log, then the page
    moves on to the Gradio app by itself."""
    space_id, url, owner = sleepy
    sleep_deeply(space_id, owner)
    with Browser() as browser:
        page = browser.open(url)
        seen = page.wait_for("document.querySelector('gradio-app') !== null", timeout=120)
        assert any("Waking up" in text and space_id in text for text in seen), seen
        assert any("Running on" in text or "Uvicorn running" in text or "Started server" in text for text in seen), seen
        assert page.evaluate("document.title") != "Waking up…"
    assert runtime(space_id)["stage"] == "RUNNING"
