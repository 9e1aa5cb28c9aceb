"""The whole path: git push a Gradio demo → build → container → Traefik → gradio_client answers."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import docker
import httpx
from gradio_client import Client

from core.settings import get_settings
from tests.helpers import GIT_ENV, ROOT, api, output, runtime, space_url, wait_stage

RUN_DIR = get_settings().data_dir / "run"


def subdomain_of(space_id: str) -> str:
    response = api("GET", f"/api/spaces/{space_id}")
    response.raise_for_status()
    return response.json()["subdomain"]


def test_push_gradio_demo_then_code_change(user, worktree, track):
    space_id = track(f"{user.name}/hello", user)
    worktree.commit("hello-gradio")

    first = worktree.push(user.name, "hello", user)
    text = output(first)
    assert first.returncode == 0, text
    assert "===== Build Queued at" in text and "Commit SHA:" in text
    url = space_url(subdomain_of(space_id))
    assert url == f"http://{user.name}-hello.spaces.localhost:8080/"
    assert f"remote: Your Space is running at {url}" in text
    assert runtime(space_id)["stage"] == "RUNNING"
    assert Client(url, verbose=False).predict("Ada", api_name="/greet") == "Hello, Ada!"

    app = worktree.path / "app.py"
    app.write_text(app.read_text().replace('f"Hello, {name}!"', 'f"Bonjour, {name}!"'))
    worktree.commit("say it in French")
    second = worktree.push(user.name, "hello", user)
    assert second.returncode == 0, output(second)
    assert f"Your Space is running at {url}" in output(second)
    assert Client(url, verbose=False).predict("Ada", api_name="/greet") == "Bonjour, Ada!"

    # After the switch the old container is drained and removed: soon exactly one is left.
    client, deadline = docker.from_env(), time.monotonic() + 30
    while len(client.containers.list(all=True, sparse=True, filters={"label": f"org.spaces.space={space_id}"})) > 1:
        assert time.monotonic() < deadline, "the old container was not removed within 30 s"
        time.sleep(0.5)


def test_clone_returns_the_pushed_commit(user, worktree, track, tmp_path):
    space_id = track(f"{user.name}/cloneme", user)
    sha = worktree.commit("first")
    assert worktree.push(user.name, "cloneme", user, "-o", "nowait").returncode == 0
    dest = tmp_path / "clone"
    run = subprocess.run(["git", "clone", f"http://spaces.localhost:8080/spaces/{space_id}", str(dest)],
                         capture_output=True, text=True, env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"}, check=False)
    assert run.returncode == 0, run.stderr
    assert (dest / "app.py").read_text() == (worktree.path / "app.py").read_text()
    head = subprocess.run(["git", "-C", str(dest), "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    assert head == sha
    wait_stage(space_id, {"RUNNING"})


def test_push_with_nowait_returns_before_the_build(user, worktree, track):
    space_id = track(f"{user.name}/quick", user)
    worktree.commit("first")
    started = time.monotonic()
    run = worktree.push(user.name, "quick", user, "-o", "nowait")
    elapsed = time.monotonic() - started
    assert run.returncode == 0, output(run)
    assert "not waiting (-o nowait)" in output(run)
    assert "Your Space is running" not in output(run)
    assert elapsed < 10
    wait_stage(space_id, {"RUNNING"})


def test_runtime_list_and_build_log_api(user, worktree, track):
    space_id = track(f"{user.name}/apis", user)
    sha = worktree.commit("first")
    assert worktree.push(user.name, "apis", user).returncode == 0

    rt = runtime(space_id)
    assert rt["stage"] == "RUNNING"
    assert rt["hardware"] == {"current": "cpu-basic", "requested": "cpu-basic"}
    assert rt["errorMessage"] is None

    listed = api("GET", "/api/spaces", params={"author": user.name}).json()
    assert [s["id"] for s in listed] == [space_id]
    assert listed[0]["sdk"] == "gradio" and listed[0]["createdAt"].endswith("Z")

    lines = []
    with httpx.stream("GET", f"http://spaces.localhost:8080/api/spaces/{space_id}/logs/build", timeout=30) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        for raw in resp.iter_lines():
            if raw.startswith("data: "):
                lines.append(json.loads(raw[6:])["data"])
    assert lines[0].startswith("===== Build Queued at") and sha in lines[0]
    assert any(line.startswith("===== Running at") for line in lines)

    missing = api("GET", f"/api/spaces/{user.name}/nope/runtime")
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]


def test_traefik_serves_on_ipv4_and_ipv6_loopback(platform):
    for base in ("http://127.0.0.1:8080", "http://[::1]:8080"):
        response = httpx.get(f"{base}/api/spaces/demo/hello-gradio", headers={"Host": "spaces.localhost:8080"}, timeout=10)
        assert response.status_code == 200, base
        page = httpx.get(f"{base}/", headers={"Host": "demo-hello-gradio.spaces.localhost:8080"}, timeout=10)
        assert page.status_code == 200 and "gradio" in page.text.lower(), base


def test_push_waits_for_a_builder_and_says_so(user, worktree, track):
    """With no builder worker the push says why it waits; once one starts, the same push finishes."""
    space_id = track(f"{user.name}/patient", user)
    worktree.commit("first")
    builders = sorted(RUN_DIR.glob("builder-*.pid"))
    assert builders, "no builder pid files: was the platform started with make up?"
    for pid_file in builders:
        os.kill(pid_of(pid_file), signal.SIGTERM)
    try:
        wait_until(lambda: not any(worker_alive(p) for p in builders), "the builders to stop")
        auth = f"{user.name}:{user.token}@spaces.localhost:8080"
        push = subprocess.Popen(
            ["git", "push", f"http://{auth}/spaces/{space_id}", "main"], cwd=worktree.path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **GIT_ENV},
        )
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=lambda: [*map(lines.put, push.stdout), lines.put(None)], daemon=True)
        reader.start()
        seen = []
        deadline = time.monotonic() + 60  # the hook says why it waits after 5 s
        while time.monotonic() < deadline and not any("no builder worker is running" in s for s in seen):
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            seen.append(line)
        assert any("no builder worker is running" in s for s in seen), "".join(seen)
    finally:
        up = subprocess.run([sys.executable, str(ROOT / "deploy" / "lifecycle.py"), "up"], capture_output=True, text=True, check=False)
        assert up.returncode == 0, up.stdout + up.stderr
    code = push.wait(timeout=300)
    reader.join(timeout=10)
    rest = "".join(iter(lines.get_nowait, None))
    assert code == 0, "".join(seen) + rest
    assert "Your Space is running at" in rest, "".join(seen) + rest


def pid_of(pidfile) -> int:
    """deploy/lifecycle.py writes '<pid> <fingerprint>'."""
    return int(pidfile.read_text().split()[0])


def worker_alive(pidfile) -> bool:
    try:
        os.kill(pid_of(pidfile), 0)
    except (OSError, ValueError):
        return False
    return True


def wait_until(check, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_large_push_and_clone_round_trip(user, worktree, track, tmp_path):
    """Packs over 1 MiB are streamed in chunks by git (re-chunked by Traefik); they must arrive whole.
    Several pushes, because the corruption this guards against was intermittent."""
    space_id = track(f"{user.name}/bigrepo", user)
    for attempt in range(5):
        blob = os.urandom(3 * 1024 * 1024)
        worktree.write("weights.bin", blob)
        worktree.commit(f"weights {attempt}")
        run = worktree.push(user.name, "bigrepo", user, "-o", "nowait")
        assert run.returncode == 0, f"push {attempt + 1}: {output(run)}"
    dest = tmp_path / "clone"
    clone = subprocess.run(["git", "clone", "-q", f"http://spaces.localhost:8080/spaces/{space_id}", str(dest)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert clone.returncode == 0, clone.stderr
    assert (dest / "weights.bin").read_bytes() == blob


def test_a_changed_example_is_deployed_by_the_next_up(tmp_path):
    """After an update of the platform's checkout, `make up` pushes the new example on top of the
    demo Space's history (a fast-forward): a Python cache folder or a changed file once made it
    push an unrelated commit, which the Space refused, and `make up` failed."""
    demo = space_url(subdomain_of("demo/hello-gradio"))
    changed = tmp_path / "example"
    shutil.copytree(ROOT / "examples" / "hello-gradio", changed)
    (changed / "__pycache__").mkdir()
    (changed / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"not part of the example")
    app = changed / "app.py"
    app.write_text(app.read_text().replace('f"Hello, ', 'f"Bonjour, '))
    assert 'f"Bonjour, ' in app.read_text()

    def deploy(source) -> subprocess.CompletedProcess:
        code = "import sys; from pathlib import Path; import lifecycle; print(lifecycle.deploy_example(Path(sys.argv[1])))"
        return subprocess.run([sys.executable, "-c", code, str(source)], cwd=ROOT / "deploy", capture_output=True,
                              text=True, timeout=600, check=False)

    try:
        run = deploy(changed)
        assert run.returncode == 0, output(run)
        assert Client(demo, verbose=False).predict("up", api_name="/greet") == "Bonjour, up!"
        files = api("GET", "/api/spaces/demo/hello-gradio").json()["siblings"]
        assert "__pycache__/app.cpython-311.pyc" not in [f["rfilename"] for f in files]
    finally:
        back = deploy(ROOT / "examples" / "hello-gradio")
    assert back.returncode == 0, output(back)
    assert Client(demo, verbose=False).predict("up", api_name="/greet") == "Hello, up!"
