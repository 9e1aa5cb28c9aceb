"""The gallery and a Space's page, as a visitor sees them: plain HTTP (readable without
JavaScript) and real headless Chromium, which also saves screenshots under tests/artifacts/.
What the Settings page's forms refuse is checked in process in the fast tier
(tests/unit/test_owner_settings_api.py)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from tests.browser import Browser
from tests.helpers import (
    WorkTree,
    api,
    base_url,
    create_user,
    eventually,
    output,
    replaced_container,
    set_password,
    settled_container,
    signed_in,
    space_url,
    unique,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PASSWORD = "a password for pages"


@pytest.fixture(scope="module")
def shown(platform, tmp_path_factory):
    """A running Gradio Space with a unique title: (space_id, title, owner, url, work tree)."""
    owner = create_user()
    set_password(owner, PASSWORD)
    title = f"Gallery test {unique('')}"
    tree = WorkTree(tmp_path_factory.mktemp("pages") / "repo")
    readme = (tree.path / "README.md").read_text().replace("title: Hello Gradio", f"title: {title}")
    tree.write("README.md", readme.replace("colorTo: pink", "colorTo: green"))
    tree.commit("gallery")
    run = tree.push(owner.name, "shown", owner)
    assert run.returncode == 0, output(run)
    space_id = f"{owner.name}/shown"
    yield space_id, title, owner, space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"]), tree
    api("DELETE", f"/api/spaces/{space_id}", owner)


def cards(html: str) -> list[str]:
    return re.findall(r'data-space="([^"]+)"', html)


def test_gallery_lists_searches_and_filters(shown):
    space_id, title, owner, _url, _tree = shown
    page = httpx.get(base_url() + "/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert space_id in cards(page.text)
    found = httpx.get(base_url() + "/", params={"q": title}, timeout=30).text
    assert cards(found) == [space_id] and title in found and "Greets whoever types their name" in found
    assert "#15803d" in found  # colorTo: green became the card's gradient
    assert space_id not in cards(httpx.get(base_url() + "/", params={"q": title, "sdk": "static"}, timeout=30).text)
    assert cards(httpx.get(base_url() + "/", params={"owner": owner.name}, timeout=30).text) == [space_id]
    assert "No Spaces match." in httpx.get(base_url() + "/", params={"q": "no-such-space-" + unique("")}, timeout=30).text
    # Escaped, not interpreted.
    assert "<script>alert(1)</script>" not in httpx.get(base_url() + "/", params={"q": "<script>alert(1)</script>"}, timeout=30).text


def test_space_page_embeds_the_app_and_shows_the_stage(shown):
    space_id, _title, owner, url, _tree = shown
    page = httpx.get(f"{base_url()}/spaces/{space_id}", timeout=30)
    assert page.status_code == 200
    assert f'<iframe class="app wide" src="{url}"' in page.text
    assert 'id="stage"' in page.text and ">RUNNING<" in page.text
    missing = httpx.get(f"{base_url()}/spaces/{owner.name}/{unique('none')}", timeout=30)
    assert missing.status_code == 404 and "There is no Space" in missing.text


def test_private_space_is_shown_only_to_those_who_may_see_it(shown):
    space_id, title, owner, _url, _tree = shown
    assert api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"private": True}).status_code == 200
    try:
        assert space_id not in cards(httpx.get(base_url() + "/", params={"q": title}, timeout=30).text)
        assert httpx.get(f"{base_url()}/spaces/{space_id}", timeout=30).status_code == 404
        with signed_in(owner, PASSWORD) as browser:
            mine = browser.get("/", params={"q": title}).text
            assert cards(mine) == [space_id] and "🔒 private" in mine and f"Signed in as <strong>{owner.name}</strong>" in mine
            assert browser.get(f"/spaces/{space_id}").status_code == 200
    finally:
        assert api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"private": False}).status_code == 200


def test_real_browser_finds_the_space_by_title_and_sees_the_app(shown):
    space_id, title, _owner, url, _tree = shown
    with Browser() as browser:
        page = browser.open(base_url() + "/")
        page.wait_for("document.querySelector('.cards') !== null")
        page.evaluate(f"document.querySelector('#q').value = {title!r}; document.querySelector('form.filters').submit(); true")
        page.wait_for(f"document.querySelectorAll('.card').length === 1 && document.body.innerText.includes({title!r})")
        page.screenshot(ARTIFACTS / "gallery.png")
        page.evaluate("document.querySelector('.card a').click(); true")
        page.wait_for("document.querySelector('iframe.app') !== null")
        assert page.evaluate("location.pathname") == f"/spaces/{space_id}"
        deadline = time.monotonic() + 60
        while not any(u.startswith(url) for u in page.frame_urls()[1:]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any(u.startswith(url) for u in page.frame_urls()[1:]), page.frame_urls()
        time.sleep(3)  # let the Gradio app inside the iframe draw itself for the screenshot
        page.screenshot(ARTIFACTS / "space-page.png")
    assert (ARTIFACTS / "gallery.png").stat().st_size > 10_000


def test_logs_and_builds_tabs_without_javascript(shown):
    space_id, _title, owner, _url, _tree = shown
    logs = httpx.get(f"{base_url()}/spaces/{space_id}/logs", timeout=30)
    assert logs.status_code == 200 and "===== Build Queued at" in logs.text and "Running at" in logs.text
    assert "Container log" not in logs.text  # the app's output is for its owners
    with signed_in(owner, PASSWORD) as browser:
        mine = browser.get(f"/spaces/{space_id}/logs").text
        assert "Container log" in mine and "===== Application Startup at" in mine
        # The page's live pane reads the app's output with the session (reading changes nothing).
        with browser.stream("GET", f"/api/spaces/{space_id}/logs/run") as stream:
            assert stream.status_code == 200
    assert httpx.get(f"{base_url()}/api/spaces/{space_id}/logs/run", timeout=30).status_code == 401
    builds = httpx.get(f"{base_url()}/spaces/{space_id}/builds", timeout=30).text
    serving = api("GET", f"/api/spaces/{space_id}/builds").json()[0]
    assert f'data-build="{serving["id"]}"' in builds and serving["commit"][:12] in builds and ">serving<" in builds


# Counts each time a log pane's EventSource (re)connects: its "open" event, fired for every
# connection the browser makes, the first and each reconnection after a stream ended.
COUNT_STREAM_OPENS = """(() => {
  const Native = window.EventSource;
  if (!Native) return;
  window.streamOpens = 0;
  window.EventSource = class extends Native {
    constructor(...args) { super(...args); this.addEventListener("open", () => { window.streamOpens++; }); }
  };
})();"""


def test_real_browser_watches_a_push_build_live(shown):
    space_id, _title, owner, _url, tree = shown
    with Browser() as browser:
        page = browser.open("about:blank")
        page.call("Page.enable")  # scripts for new documents run only with the Page domain on
        page.call("Page.addScriptToEvaluateOnNewDocument", source=COUNT_STREAM_OPENS)
        page.goto(f"{base_url()}/spaces/{space_id}/logs")
        page.wait_for("document.querySelector('#build-log').textContent.includes('Running at')")
        tree.write("app.py", (tree.path / "app.py").read_text() + "\n# a change watched live\n")
        commit = tree.commit("watched live")
        assert tree.push(*space_id.split("/"), owner, "-o", "nowait").returncode == 0
        page.wait_for(f"document.querySelector('#build-log').textContent.includes('Commit SHA: {commit}')", timeout=60)
        page.wait_for("document.querySelector('#build-log').textContent.includes('Running at')", timeout=120)
        page.evaluate("document.querySelector('#build-log').scrollIntoView(); true")
        page.screenshot(ARTIFACTS / "logs-tab.png")
        # The build is over: its stream has ended and the browser reconnects now and then, but the
        # pane is neither emptied nor refilled (it once re-streamed the whole log every 3 s).
        page.evaluate("""window.paneChanges = 0; new MutationObserver(() => window.paneChanges++)
            .observe(document.querySelector('#build-log'), {childList: true, characterData: true, subtree: true}); true""")
        opened = page.evaluate("window.streamOpens")
        page.wait_for(f"window.streamOpens >= {opened} + 2", timeout=60)  # two reconnections since, each answered in full
        assert page.evaluate("window.paneChanges") == 0
        assert page.evaluate(f"document.querySelector('#build-log').textContent.split('Commit SHA: {commit}').length") == 2


def sse(path: str, user, last_event_id: str = "") -> list[tuple[str, str]]:
    """(id, line) of each event a finished stream sends."""
    headers = {**user.headers, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
    events, current = [], ""
    with httpx.stream("GET", base_url() + path, headers=headers, timeout=30) as response:
        for raw in response.iter_lines():
            if raw.startswith("id: "):
                current = raw[4:]
            elif raw.startswith("data: "):
                events.append((current, json.loads(raw[6:])["data"]))
    return events


def test_a_reconnecting_log_stream_sends_only_what_is_new(shown):
    space_id, _title, owner, _url, _tree = shown
    build = api("GET", f"/api/spaces/{space_id}/builds", owner).json()[0]["id"]
    events = sse(f"/api/spaces/{space_id}/logs/build", owner)
    assert len(events) > 3 and all(re.fullmatch(rf"{build}:\d+-\d+", i) for i, _ in events), events[:3]
    assert sse(f"/api/spaces/{space_id}/logs/build", owner, events[-1][0]) == []
    assert sse(f"/api/spaces/{space_id}/logs/build", owner, events[-3][0]) == events[-2:]
    # An id of another build, or garbage, starts from the beginning.
    assert sse(f"/api/spaces/{space_id}/logs/build", owner, f"0:{events[-1][0].split(':')[1]}") == events
    assert sse(f"/api/spaces/{space_id}/logs/build", owner, "not an id") == events


def test_real_browser_changes_a_variable_pauses_resumes_and_deletes(platform, tmp_path):
    owner = create_user()
    set_password(owner, PASSWORD)
    tree = WorkTree(tmp_path / "repo")
    tree.commit("settings")
    assert tree.push(owner.name, "tuned", owner).returncode == 0
    space_id = f"{owner.name}/tuned"
    before = settled_container(space_id)

    def stage() -> str:
        return api("GET", f"/api/spaces/{space_id}/runtime", owner).json()["stage"]

    with Browser() as browser:
        page = browser.open(f"{base_url()}/spaces/{space_id}/settings")
        page.sign_in(owner.name, PASSWORD)
        page.wait_for("document.querySelector('#variable-key') !== null")
        page.evaluate("""document.querySelector('#variable-key').value = 'GREETING';
            document.querySelector('#variable-value').value = 'bonjour';
            document.querySelector('#variable-key').form.submit(); true""")
        page.wait_for("document.body.innerText.includes('Variable GREETING saved')")
        assert "GREETING = bonjour" in page.evaluate("document.querySelector('#variable-list').innerText")
        page.screenshot(ARTIFACTS / "settings-tab.png")
        # The Space restarts with it: a new container, then RUNNING again.
        replaced_container(space_id, before, 120)  # a new container, not the old one started again
        assert eventually(lambda: stage() == "RUNNING", 120), stage()
        page.evaluate("document.querySelector('#do-pause').click(); true")
        page.wait_for("document.body.innerText.includes('Paused: restart to resume')")
        assert stage() == "PAUSED"
        page.evaluate("document.querySelector('#do-restart').click(); true")
        page.wait_for("document.body.innerText.includes('Restarting')")
        deadline = time.monotonic() + 120
        while stage() != "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert stage() == "RUNNING"
        page.evaluate(f"""document.querySelector('#confirm').value = {space_id!r};
            document.querySelector('#confirm').form.submit(); true""")
        page.wait_for(f"location.search === '?owner={owner.name}'")
    deadline = time.monotonic() + 60
    while api("GET", f"/api/spaces/{space_id}", owner).status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert api("GET", f"/api/spaces/{space_id}", owner).status_code == 404


def test_mini_header_and_a_wake_button_for_a_sleeping_space(platform, tmp_path):
    owner = create_user()
    tree = WorkTree(tmp_path / "repo")
    readme = (tree.path / "README.md").read_text().replace("pinned: false", "pinned: false\nheader: mini")
    tree.write("README.md", readme)
    tree.commit("mini")
    assert tree.push(owner.name, "drowsy", owner).returncode == 0
    space_id = f"{owner.name}/drowsy"
    url = space_url(api("GET", f"/api/spaces/{space_id}").json()["subdomain"])
    try:
        page = httpx.get(f"{base_url()}/spaces/{space_id}", timeout=30).text
        assert 'class="space-head mini"' in page and 'id="wake"' not in page
        assert api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": 2}).status_code == 200
        deadline = time.monotonic() + 60
        while api("GET", f"/api/spaces/{space_id}/runtime").json()["stage"] != "SLEEPING" and time.monotonic() < deadline:
            time.sleep(0.5)
        asleep = httpx.get(f"{base_url()}/spaces/{space_id}", timeout=30).text
        assert f'<a class="wake" id="wake" href="{url}">Wake it up</a>' in asleep
        assert api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": -1}).status_code == 200
        assert httpx.get(url, timeout=120).status_code == 200  # following the button wakes it
        assert api("GET", f"/api/spaces/{space_id}/runtime").json()["stage"] == "RUNNING"
    finally:
        api("DELETE", f"/api/spaces/{space_id}", owner)


def test_keyboard_alone_finds_and_opens_a_space(shown):
    """No mouse: Tab to the search field, type, Enter; Tab to the card (the focus is visible), Enter."""
    space_id, title, _owner, _url, _tree = shown
    with Browser() as browser:
        page = browser.open(base_url() + "/")
        page.wait_for("document.querySelector('#q') !== null")
        assert page.tab_to("#q") <= 4  # the brand link and "Sign in" come first
        page.type_text(title)
        page.press("Enter")
        page.wait_for("location.search.includes('q=') && document.querySelectorAll('.card').length === 1")
        page.tab_to(".card a")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in (None, "none"), "the focused card shows no focus ring"
        page.press("Enter")
        page.wait_for(f"location.pathname === '/spaces/{space_id}'")
        # The tabs are reachable and work from the keyboard too.
        page.tab_to(f"a[href='/spaces/{space_id}/logs']")
        page.press("Enter")
        page.wait_for(f"location.pathname === '/spaces/{space_id}/logs'")


def test_pages_work_at_phone_width(shown):
    """At 390 px wide nothing makes the page scroll sideways and every control has a label."""
    space_id, title, owner, _url, _tree = shown
    with Browser() as browser:
        page = browser.open("about:blank")
        page.set_viewport(390, 844, mobile=True)
        for path in ("/", f"/?q={title}", f"/spaces/{space_id}", f"/spaces/{space_id}/logs", f"/spaces/{space_id}/builds",
                     f"/spaces/{space_id}/files", f"/spaces/{space_id}/files?path=app.py", "/login"):
            page.goto(base_url() + path)
            assert page.layout_problems() == [], (path, page.layout_problems())
        page.goto(f"{base_url()}/?q={title}")
        page.screenshot(ARTIFACTS / "gallery-phone.png", 390, 844, mobile=True)
        page.goto(f"{base_url()}/spaces/{space_id}")
        page.screenshot(ARTIFACTS / "space-page-phone.png", 390, 844, mobile=True)
        # Signed in, the owner's Settings tab too.
        page.goto(f"{base_url()}/login?next=/spaces/{space_id}/settings")
        page.sign_in(owner.name, PASSWORD)
        page.wait_for("document.querySelector('#variable-key') !== null")
        assert page.layout_problems() == [], page.layout_problems()
        page.screenshot(ARTIFACTS / "settings-phone.png", 390, 844, mobile=True)
