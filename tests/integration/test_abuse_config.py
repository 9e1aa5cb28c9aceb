"""Hostile READMEs, error messages and odd refs against the running platform (issue 17, findings 1, 2, 6, 10).

Each attack uses a harmless payload: YAML alias bombs (to the unauthenticated validate-yaml and in a
pushed README), a 5 MB title, a crashed app whose output other people must not read, a tag of a
blob. The platform answers each with a short, specific refusal and stays responsive meanwhile.
"""

from __future__ import annotations

import statistics
import threading
import time

import httpx

from core.settings import get_settings
from tests.helpers import WorkTree, api, base_url, eventually, output, runtime, space_url, wait_stage


def alias_bomb(levels: int = 7, width: int = 9) -> str:
    """``width ** levels`` values (4.8 million at 7) in about 330 bytes."""
    lines = ["a0: &a0 [" + ",".join(["lol"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "---\nsdk: static\n" + "\n".join(lines) + f"\ntitle: *a{levels - 1}\n---\n"


EXAMPLE_SPACE = "demo-hello-gradio"  # deployed by make up: another tenant's Space, through Traefik


def timed_get(path: str) -> float:
    started = time.monotonic()
    assert httpx.get(path if path.startswith("http") else base_url() + path, timeout=30).status_code == 200
    return time.monotonic() - started


def test_validate_yaml_bombs_are_refused_and_the_controller_stays_responsive(platform):
    baseline = [timed_get("/healthz") for _ in range(10)]
    space_baseline = [timed_get(space_url(EXAMPLE_SPACE)) for _ in range(10)]
    answers: list[tuple[int, int, float]] = []
    stop = threading.Event()

    def bomber() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                started = time.monotonic()
                answer = client.post(base_url() + "/api/validate-yaml", json={"content": alias_bomb()})
                answers.append((answer.status_code, len(answer.content), time.monotonic() - started))

    threads = [threading.Thread(target=bomber) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        assert eventually(lambda: len(answers) >= 4, 30), "the bombs got no answer"  # each bomber is under way
        during = [timed_get("/healthz") for _ in range(15)] + [timed_get("/api/spaces?limit=1") for _ in range(5)]
        space_during = [timed_get(space_url(EXAMPLE_SPACE)) for _ in range(10)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    assert len(answers) >= 8, answers
    assert {status for status, _, _ in answers} == {400}
    assert max(size for _, size, _ in answers) < 1000, "the refusal must not quote the expanded value"
    assert max(seconds for _, _, seconds in answers) < 2.0
    usual = statistics.median(baseline)
    assert max(during) < max(1.0, 20 * usual), f"usual {usual:.3f} s, during the bombs {sorted(during)[-3:]}"
    usual = statistics.median(space_baseline)
    assert max(space_during) < max(1.0, 20 * usual), f"another Space: usual {usual:.3f} s, during {sorted(space_during)[-3:]}"
    message = httpx.post(base_url() + "/api/validate-yaml", json={"content": alias_bomb()}).json()["errors"][0]["message"]
    assert "aliases" in message and "5000 values" in message


def push_readme(user, tmp_path, track, name: str, readme: str) -> tuple[str, str]:
    worktree = WorkTree(tmp_path / name, example="hello-static")
    worktree.write("README.md", readme)
    worktree.commit(name)
    space_id = track(f"{user.name}/{name}", user)
    return space_id, output(worktree.push(user.name, name, user))


def test_a_readme_alias_bomb_is_a_short_config_error(user, tmp_path, track):
    space_id, text = push_readme(user, tmp_path, track, "yaml-bomb", alias_bomb())
    assert "error: CONFIG_ERROR" in text and "aliases" in text
    assert len(text) < 20_000
    rt = runtime(space_id, user)
    assert rt["stage"] == "CONFIG_ERROR" and len(rt["errorMessage"]) < 600
    listing = api("GET", f"/api/spaces?author={user.name}")
    assert listing.status_code == 200 and len(listing.content) < 20_000


def test_a_5_mb_title_is_a_config_error_naming_the_key(user, tmp_path, track):
    readme = "---\ntitle: " + "A" * 5_000_000 + "\nsdk: static\n---\n"
    space_id, text = push_readme(user, tmp_path, track, "huge-title", readme)
    assert "error: CONFIG_ERROR" in text and "'title'" in text and "at most 100" in text, text[-2000:]
    assert len(text) < 20_000
    assert runtime(space_id, user)["stage"] == "CONFIG_ERROR"
    gallery = httpx.get(base_url() + f"/?owner={user.name}", timeout=30)
    assert gallery.status_code == 200 and len(gallery.content) < 200_000
    assert len(api("GET", f"/api/spaces/{space_id}").json()["cardData"]["title"]) <= 100


def test_a_crashed_apps_log_lines_only_for_its_owners(user, other_user, worktree, track):
    worktree.write("app.py", 'print("visitor typed: private-note-5151", flush=True)\nraise SystemExit("boom at start")\n')
    worktree.commit("crash")
    space_id = track(f"{user.name}/leaky-crash", user)
    text = output(worktree.push(user.name, "leaky-crash", user))
    assert "error: RUNTIME_ERROR" in text and "private-note-5151" in text  # the pusher is an owner
    owner_view = runtime(space_id, user)["errorMessage"]
    assert "exited with code 1" in owner_view and "private-note-5151" in owner_view
    for who in (None, other_user):
        shown = runtime(space_id, who)["errorMessage"]
        assert "exited with code 1" in shown and "private-note-5151" not in shown, shown
        assert "visible to the Space's owners" in shown
        assert "private-note-5151" not in api("GET", "/api/spaces?limit=1000", who).text
        assert "private-note-5151" not in httpx.get(base_url() + f"/spaces/{space_id}", timeout=30).text
    assert api("PUT", f"/api/spaces/{space_id}/settings", user, json={"visibility": "protected"}).status_code == 200
    assert "private-note-5151" not in runtime(space_id)["errorMessage"]
    subdomain = api("GET", f"/api/spaces/{space_id}", user).json()["subdomain"]
    visit = httpx.get(space_url(subdomain), timeout=30)
    assert "private-note-5151" not in visit.text


def test_a_tag_of_a_blob_is_refused_with_a_reason(user, worktree):
    worktree.commit("first")
    blob = worktree.git("hash-object", "-w", "README.md").stdout.strip()
    worktree.git("tag", "-a", "-m", "a blob", "blob-tag", blob)
    s = get_settings()
    url = f"http://{user.name}:{user.token}@{s.domain}:{s.http_port}/spaces/{user.name}/tagged-blob"
    run = worktree.git("push", url, "refs/tags/blob-tag", check=False)
    text = output(run)
    assert run.returncode != 0
    assert "refs/tags/blob-tag points at a blob through a tag; only commits and tags of commits may be pushed" in text
    assert "Traceback" not in text
    assert api("GET", f"/api/spaces/{user.name}/tagged-blob").status_code == 404


def test_a_new_space_says_building_not_no_app_file(user, tmp_path, track):
    worktree = WorkTree(tmp_path / "fresh", example="hello-static")
    worktree.commit("first")
    space_id = track(f"{user.name}/fresh-stage", user)
    run = worktree.push(user.name, "fresh-stage", user, "-o", "nowait")
    assert run.returncode == 0, output(run)
    assert runtime(space_id, user)["stage"] in {"BUILDING", "APP_STARTING", "RUNNING"}
    wait_stage(space_id, {"RUNNING"}, timeout=120, user=user)
