"""Apps that fail at run time end in RUNTIME_ERROR with the right reason: a crash while serving
(restarted with backoff, given up on when it keeps crashing), memory exhausted, a port never opened."""

from __future__ import annotations

import contextlib
import time

import docker
import httpx

from tests.helpers import WorkTree, api, output, read_run_log, runtime, space_url, wait_stage

# Serves HTTP at once; /crash makes it exit with code 3. CRASH_AFTER seconds after start, it exits with code 5.
APP = '''
import http.server, os, sys, threading

CRASH_AFTER = {crash_after}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            print("crashing on purpose", flush=True)
            os._exit(3)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"alive")


if CRASH_AFTER:
    threading.Timer(CRASH_AFTER, lambda: (print("giving up", flush=True), os._exit(5))).start()
print("listening", flush=True)
http.server.ThreadingHTTPServer(("0.0.0.0", 7860), Handler).serve_forever()
'''


def push_app(user, worktree, track, name: str, app: str, front_matter: str = "") -> tuple[str, str]:
    worktree.write("app.py", app)
    if front_matter:
        readme = (worktree.path / "README.md").read_text().replace("sdk: gradio\n", f"sdk: gradio\n{front_matter}")
        worktree.write("README.md", readme)
    worktree.commit(name)
    space_id = track(f"{user.name}/{name}", user)
    return space_id, output(worktree.push(user.name, name, user))


def test_crash_while_serving_is_reported_then_restarted(user, worktree, track):
    space_id, text = push_app(user, worktree, track, "crashy", APP.format(crash_after=0))
    assert "Your Space is running at" in text, text
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    with contextlib.suppress(httpx.HTTPError):  # the app died mid-request
        httpx.get(url + "crash", timeout=10)
    rt = wait_stage(space_id, {"RUNTIME_ERROR"}, timeout=30, user=user)  # log lines: owners only
    assert "the app exited with code 3" in rt["errorMessage"], rt
    assert "crashing on purpose" in rt["errorMessage"], rt
    assert "attempt 1 of" in rt["errorMessage"], rt
    wait_stage(space_id, {"RUNNING"}, timeout=60)
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and page.text == "alive"


def test_app_that_keeps_crashing_is_given_up_on_and_visitors_see_why(user, worktree, track):
    space_id, text = push_app(user, worktree, track, "crashloop", APP.format(crash_after=3))
    assert "Your Space is running at" in text, text
    first = wait_stage(space_id, {"RUNTIME_ERROR"}, timeout=30)
    assert "the app exited with code 5" in first["errorMessage"] and "attempt 1 of" in first["errorMessage"]
    final = None
    for _ in range(120):
        rt = runtime(space_id, user)  # the app's log lines: for those who may read its run log
        if rt["stage"] == "RUNTIME_ERROR" and "gave up after" in (rt["errorMessage"] or ""):
            final = rt
            break
        time.sleep(1)
    assert final is not None, f"never gave up: {runtime(space_id)}"
    assert "the app exited with code 5" in final["errorMessage"] and "giving up" in final["errorMessage"]
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    visit = httpx.get(url, timeout=10)
    assert visit.status_code == 503, visit.text
    assert "RUNTIME_ERROR" in visit.json()["error"] and "exited with code 5" in visit.json()["detail"]


def test_app_that_exhausts_its_memory_says_so(user, worktree, track):
    hog = 'print("loading a model too big for this Space", flush=True)\nweights = b"x" * (3 * 1024 ** 3)\n'
    space_id, text = push_app(user, worktree, track, "hog", hog)
    assert "error: RUNTIME_ERROR" in text, text
    rt = runtime(space_id, user)  # log lines: owners only
    assert rt["stage"] == "RUNTIME_ERROR"
    assert "memory limit (2048 MiB) exceeded" in rt["errorMessage"], rt
    assert "loading a model too big" in rt["errorMessage"]


def test_app_that_never_opens_its_port_times_out_with_its_logs(user, worktree, track):
    idle = 'import time\nprint("warming up forever", flush=True)\ntime.sleep(3600)\n'
    space_id, text = push_app(user, worktree, track, "noport", idle, "startup_duration_timeout: 5s\n")
    assert "error: RUNTIME_ERROR" in text, text
    rt = runtime(space_id, user)  # log lines: owners only
    assert rt["stage"] == "RUNTIME_ERROR"
    assert "did not answer HTTP within 5 s (startup_duration_timeout)" in rt["errorMessage"], rt
    assert "warming up forever" in rt["errorMessage"]


def test_run_log_keeps_output_across_restarts_masks_secrets_and_is_owner_only(user, other_user, worktree, track):
    secret = "sk-run-log-secret-9f8e7d"
    app = 'import os\nprint("the key is", os.environ.get("API_KEY"), flush=True)\n' + APP.format(crash_after=0)
    space_id, text = push_app(user, worktree, track, "runlog", app)
    assert "Your Space is running at" in text, text
    assert api("POST", f"/api/spaces/{space_id}/secrets", user, json={"key": "API_KEY", "value": secret}).status_code == 200
    wait_for(lambda: any("the key is ********" in line for line in read_run_log(space_id, user, 1)), "the masked key")
    # The redeploy that brought the secret has finished once the old container is gone.
    wait_for(lambda: len(docker.from_env().containers.list(all=True, filters={"label": f"org.spaces.space={space_id}"}, ignore_removed=True)) == 1,
             "the old container to be retired")
    wait_stage(space_id, {"RUNNING"}, timeout=30)
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url + "crash", timeout=10)
    wait_stage(space_id, {"RUNTIME_ERROR"}, timeout=30)
    wait_stage(space_id, {"RUNNING"}, timeout=60)
    wait_for(lambda: sum("the key is" in line for line in read_run_log(space_id, user, 1)) >= 3,
             lambda: f"the restarted app's output: {read_run_log(space_id, user, 1)}")
    lines = read_run_log(space_id, user)
    assert "crashing on purpose" in lines, lines
    assert sum(line.startswith("===== Application Startup at ") for line in lines) >= 3, lines  # deploy, redeploy, restart
    assert not any(secret in line for line in lines)
    assert lines.index("crashing on purpose") < max(i for i, line in enumerate(lines) if "the key is" in line)
    assert api("GET", f"/api/spaces/{space_id}/logs/run").status_code == 401
    assert api("GET", f"/api/spaces/{space_id}/logs/run", other_user).status_code == 403


def wait_for(check, what, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.5)


HANGS = '''import socket, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 7860))
server.listen(64)  # connections are accepted by the kernel and never answered
print("listening, never answering", flush=True)
time.sleep(3600)
'''


def hanging_app(tree: WorkTree) -> WorkTree:
    """``tree`` (hello-gradio) committed as an app that never answers, with a 2-minute startup timeout."""
    tree.write("app.py", HANGS)
    readme = (tree.path / "README.md").read_text().replace("sdk: gradio\n", "sdk: gradio\nstartup_duration_timeout: 2m\n")
    tree.write("README.md", readme)
    tree.commit("hangs")
    return tree


def test_two_hanging_apps_do_not_hold_up_another_tenants_deploy(user, other_user, worktree, tmp_path):
    """Two apps that accept connections and never answer (a 2-minute startup timeout each), then
    another user's static Space: it is served while both still start (before, they held both
    run workers and it waited minutes). Issue 17, finding 4."""
    hanging_app(worktree)
    hanging = [f"{user.name}/hang-{i}" for i in (1, 2)]
    for space_id in hanging:
        assert worktree.push(*space_id.split("/"), user, "-o", "nowait").returncode == 0
    for space_id in hanging:
        wait_stage(space_id, {"APP_STARTING"}, timeout=120)

    site = WorkTree(tmp_path / "site", example=None)
    site.write("README.md", "---\ntitle: site\nsdk: static\n---\n")
    site.write("index.html", "<p>served</p>")
    site.commit("static")
    run = site.push(other_user.name, "site", other_user)
    assert run.returncode == 0 and "Your Space is running at" in output(run), output(run)
    assert [runtime(space_id, user)["stage"] for space_id in hanging] == ["APP_STARTING"] * 2
    url = space_url(api("GET", f"/api/spaces/{other_user.name}/site").json()["subdomain"])
    assert "served" in httpx.get(url, timeout=10).text
