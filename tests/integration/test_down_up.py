"""``make down`` stops the platform and its Spaces; the next ``make up`` brings every Space back.

It stops the whole platform, so it is one of the exclusive tests (see tests/integration/conftest.py).
"""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.helpers import (
    ROOT,
    WorkTree,
    api,
    create_user,
    output,
    space_url,
    wait_stage,
)


def lifecycle(command: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "deploy" / "lifecycle.py"), command],
                          capture_output=True, text=True, timeout=900, cwd=ROOT, check=False)


def test_down_then_up_brings_every_space_back(tmp_path):
    owner = create_user()
    tree = WorkTree(tmp_path / "repo")
    tree.commit("first")
    assert tree.push(owner.name, "survivor", owner).returncode == 0
    assert tree.push(owner.name, "dozer", owner).returncode == 0
    survivor = space_url(api("GET", f"/api/spaces/{owner.name}/survivor").json()["subdomain"])
    dozer_id = f"{owner.name}/dozer"
    dozer = space_url(api("GET", f"/api/spaces/{dozer_id}").json()["subdomain"])
    # dozer goes down asleep in the paused tier (sleep time 5 s: it would be stopped only 5 s later).
    api("POST", f"/api/spaces/{dozer_id}/sleeptime", owner, json={"seconds": 5})
    wait_stage(dozer_id, {"SLEEPING"}, timeout=30)
    demo = space_url(api("GET", "/api/spaces/demo/hello-gradio").json()["subdomain"])
    assert httpx.get(survivor, timeout=10).status_code == 200

    down = lifecycle("down")
    assert down.returncode == 0, output(down)
    assert "stopped controller" in output(down)
    for url in (survivor, demo):
        try:
            status = httpx.get(url, timeout=5).status_code
        except httpx.HTTPError:
            status = None  # nothing listens any more: that is what down means
        assert status != 200

    up = lifecycle("up")
    assert up.returncode == 0, output(up)
    assert demo in up.stdout
    for url in (survivor, demo):
        assert httpx.get(url, timeout=10).status_code == 200
    assert api("GET", f"/api/spaces/{owner.name}/survivor/runtime").json()["stage"] == "RUNNING"
    # Still asleep, its paused container stopped by down: a browser gets the wake page, then the app.
    api("POST", f"/api/spaces/{dozer_id}/sleeptime", owner, json={"seconds": -1})
    assert api("GET", f"/api/spaces/{dozer_id}/runtime").json()["stage"] == "SLEEPING"
    page = httpx.get(dozer, headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "Waking up" in page.text, page.text[:300]
    wait_stage(dozer_id, {"RUNNING"}, timeout=120)
    assert "gradio" in httpx.get(dozer, timeout=30).text.lower()
    for name in ("survivor", "dozer"):
        api("DELETE", f"/api/spaces/{owner.name}/{name}", owner)
