"""Private Spaces at their subdomain, through the real Traefik: refused to anonymous visitors and
to other users, served to their owner and organization with a token (httpx, gradio_client) or a
browser sign-in (httpx's cookie jar, and real headless Chromium); the route follows a visibility
change at once; the ``Host`` and ``X-Forwarded-*`` headers cannot be used to get around it."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from gradio_client import Client

from core.settings import get_settings
from core.store import get_redis
from proxy.routes import RedisRouteTable, space_route_name
from tests.browser import Browser
from tests.helpers import (
    WorkTree,
    api,
    base_url,
    create_org,
    create_user,
    eventually,
    output,
    set_password,
    space_url,
    unique,
    wait_stage,
)

PASSWORD = "a long enough password"
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def private(platform, tmp_path_factory):
    """A private Gradio Space of an organization: (space_id, url, owner, member, stranger)."""
    owner, member, stranger = create_user(), create_user(), create_user()
    set_password(owner, PASSWORD)
    org = create_org(owner, {member.name: "read"})
    tree = WorkTree(tmp_path_factory.mktemp("private") / "repo")
    tree.commit("private demo")
    space_id = f"{org}/{unique('secret')}"
    run = tree.push(org, space_id.split("/")[1], owner)
    assert run.returncode == 0, output(run)
    response = api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"visibility": "private"})
    assert response.json() == {"id": space_id, "private": True, "visibility": "private"}
    url = space_url(api("GET", f"/api/spaces/{space_id}", owner).json()["subdomain"])
    yield space_id, url, owner, member, stranger
    api("DELETE", f"/api/spaces/{space_id}", owner)


def sign_in(client: httpx.Client, start_url: str, name: str, password: str) -> httpx.Response:
    """What a browser does: open ``start_url``, get sent to the sign-in form, submit it, follow redirects."""
    form = client.get(start_url, headers=BROWSER)
    assert form.status_code == 200 and form.url.path == "/login", (form.status_code, form.url)
    fields = dict(re.findall(r'name="(csrf|next)" value="([^"]*)"', form.text))
    return client.post(f"{base_url()}/login", headers={**BROWSER, "Origin": base_url()}, data={
        "csrf": fields["csrf"], "next": html.unescape(fields["next"]), "username": name, "password": password})


def test_anonymous_and_other_users_are_refused_at_the_subdomain(private):
    space_id, url, _owner, _member, stranger = private
    anonymous = httpx.get(url, timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"].startswith(f"Space {space_id} is private")
    assert "gradio" not in anonymous.text.lower()
    assert httpx.get(url, headers=stranger.headers, timeout=30).status_code == 404
    assert httpx.get(url, headers={"Authorization": "Bearer spc_not-a-real-token"}, timeout=30).status_code == 401
    # A browser is sent to sign in, with the way back.
    page = httpx.get(url + "config?x=1", headers=BROWSER, timeout=30)
    assert page.status_code == 302
    assert page.headers["location"].startswith(f"{base_url()}/auth/space-login?space=")
    # Nor does the API reveal it.
    assert api("GET", f"/api/spaces/{space_id}").status_code == 404
    assert api("GET", f"/api/spaces/{space_id}", stranger).status_code == 404


def test_owner_and_members_are_served_with_a_token(private):
    _space_id, url, owner, member, _stranger = private
    for user in (owner, member):
        response = httpx.get(url, headers=user.headers, timeout=30)
        assert response.status_code == 200 and "gradio" in response.text.lower()
    assert Client(url, token=owner.token, verbose=False).predict("owner", api_name="/greet") == "Hello, owner!"
    with pytest.raises(Exception):  # noqa: B017 - gradio_client raises various errors for a 401
        Client(url, verbose=False)


def test_browser_signs_in_and_comes_back_to_the_space(private):
    _space_id, url, owner, _member, _stranger = private
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        landed = sign_in(client, url, owner.name, PASSWORD)
        assert landed.status_code == 200 and str(landed.url) == url, landed.url
        assert "gradio" in landed.text.lower()
        # The platform's session cookie stays on the platform's host; the Space gets its own,
        # valid on its subdomain only.
        jar = {(c.name, c.domain) for c in client.cookies.jar}
        host = httpx.URL(url).host
        assert ("spaces_session", get_settings().domain) in jar
        assert ("spaces_space_session", host) in jar
        assert all(c.domain in (get_settings().domain, host) and not c.domain.startswith(".") for c in client.cookies.jar)
        again = client.get(url + "config", headers=BROWSER)
        assert again.status_code == 200 and again.url.path == "/config"
        # Signing out ends the platform session (a new visit to another private Space asks again).
        logout_page = client.get(f"{base_url()}/logout")
        csrf = re.search(r'name="csrf" value="([^"]+)"', logout_page.text).group(1)
        assert client.post(f"{base_url()}/logout", data={"csrf": csrf}, headers={"Origin": base_url()}).url.path == "/login"
        assert client.get(f"{base_url()}/api/whoami-v2").status_code == 401


def test_a_used_or_forged_ticket_is_refused(private):
    _space_id, url, _owner, _member, _stranger = private
    forged = httpx.get(url + "__spaces/auth?ticket=made-up&next=/", headers=BROWSER, timeout=30)
    assert forged.status_code == 403 and "expired" in forged.text
    assert "spaces_space_session" not in forged.headers.get("set-cookie", "")


def test_stranger_signed_in_in_a_browser_is_refused(private):
    _space_id, url, _owner, _member, stranger = private
    set_password(stranger, PASSWORD)
    with httpx.Client(follow_redirects=True, timeout=30) as client:
        landed = sign_in(client, url, stranger.name, PASSWORD)
        assert landed.status_code == 404 and landed.url.host == get_settings().domain
        assert client.get(url, headers=BROWSER, follow_redirects=False).status_code == 302


@pytest.mark.parametrize("trick", [
    {"X-Forwarded-Host": "demo-hello-gradio.spaces.localhost:8080"},
    {"X-Forwarded-Host": "demo-hello-gradio.spaces.localhost", "X-Forwarded-Uri": "/", "X-Real-Ip": "10.0.0.1"},
    {"Forwarded": "host=demo-hello-gradio.spaces.localhost"},
])
def test_forwarded_headers_cannot_open_a_private_space(private, trick):
    _space_id, url, _owner, _member, _stranger = private
    assert httpx.get(url, headers=trick, timeout=30).status_code == 401


def test_host_header_variants_do_not_get_around_the_check(private):
    space_id, url, _owner, _member, _stranger = private
    host = httpx.URL(url).host
    s = get_settings()
    for variant in (host.upper(), f"{host}:{s.http_port}", f"{host.upper()}:{s.http_port}"):
        response = httpx.get(f"http://127.0.0.1:{s.http_port}/", headers={"Host": variant}, timeout=30)
        assert response.status_code in (401, 404), (variant, response.status_code)
        assert "gradio" not in response.text.lower()
    # The platform's own host does not proxy to Spaces, whatever the path.
    for path in (f"/spaces/{space_id}", f"/{space_id}", "/auth/space"):
        response = httpx.get(base_url() + path, headers={"X-Forwarded-Host": host}, timeout=30)
        assert "gradio" not in response.text.lower(), path


def test_visibility_change_moves_the_route_at_once(private):
    space_id, url, owner, _member, _stranger = private
    name = space_route_name(api("GET", f"/api/spaces/{space_id}", owner).json()["subdomain"])
    try:
        assert api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"private": False}).status_code == 200
        assert not RedisRouteTable(get_redis()).is_private(name)
        assert wait_for_status(url, 200)
        assert api("GET", f"/api/spaces/{space_id}").json()["private"] is False
    finally:
        assert api("PUT", f"/api/spaces/{space_id}/settings", owner, json={"private": True}).status_code == 200
    assert wait_for_status(url, 401)


def wait_for_status(url: str, status: int, timeout: float = 5) -> bool:
    return eventually(lambda: httpx.get(url, timeout=30).status_code == status, timeout, every=0.05)


@pytest.mark.parametrize(("body", "message"), [
    ({"visibility": "secret"}, "visibility must be one of public, private, protected"),
    ({"private": "yes"}, "private must be true or false"),
    ({"private": True, "visibility": "public"}, "contradicts"),
    ({"gated": "auto"}, "settings accepts 'private'"),
])
def test_bad_settings_are_refused_and_change_nothing(private, body, message):
    space_id, url, owner, _member, _stranger = private
    response = api("PUT", f"/api/spaces/{space_id}/settings", owner, json=body)
    assert response.status_code == 400 and message in response.json()["error"], response.text
    assert api("GET", f"/api/spaces/{space_id}", owner).json()["visibility"] == "private"
    assert httpx.get(url, timeout=30).status_code == 401


def test_a_sleeping_private_space_stays_asleep_for_strangers_and_wakes_for_its_owner(private):
    space_id, url, owner, _member, stranger = private
    assert api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": 2}).status_code == 200
    try:
        wait_stage(space_id, {"SLEEPING"}, timeout=60, user=owner)
        subdomain = api("GET", f"/api/spaces/{space_id}", owner).json()["subdomain"]
        assert RedisRouteTable(get_redis()).is_private(space_route_name(subdomain))  # the waker's route too
        assert httpx.get(url, timeout=30).status_code == 401
        assert httpx.get(url, headers=stranger.headers, timeout=30).status_code == 404
        assert api("GET", f"/api/spaces/{space_id}/runtime", owner).json()["stage"] == "SLEEPING"
        response = httpx.get(url, headers=owner.headers, timeout=120)
        assert response.status_code == 200 and "gradio" in response.text.lower()
    finally:
        assert api("POST", f"/api/spaces/{space_id}/sleeptime", owner, json={"seconds": -1}).status_code == 200
    wait_stage(space_id, {"RUNNING"}, timeout=60, user=owner)


def test_real_browser_signs_in_and_sees_the_private_app(private):
    _space_id, url, owner, _member, _stranger = private
    with Browser() as browser:
        page = browser.open(url)
        page.wait_for("document.querySelector('#password') !== null", timeout=60)
        assert page.evaluate("location.host") == f"{get_settings().domain}:{get_settings().http_port}"
        page.sign_in(owner.name, PASSWORD)
        page.wait_for("document.querySelector('gradio-app') !== null", timeout=60)
        assert page.evaluate("location.href") == url
        assert page.evaluate("document.cookie") == ""  # HttpOnly: the app's scripts cannot read them


def test_a_member_removed_from_the_organization_loses_access(private):
    space_id, url, owner, _member, _stranger = private
    extra = create_user()
    org = space_id.split("/")[0]
    assert api("POST", f"/api/organizations/{org}/members", owner, json={"user": extra.name, "role": "read"}).status_code == 200
    assert httpx.get(url, headers=extra.headers, timeout=30).status_code == 200
    assert api("DELETE", f"/api/organizations/{org}/members/{extra.name}", owner).status_code == 200
    assert httpx.get(url, headers=extra.headers, timeout=30).status_code == 404


def test_private_repo_clones_only_with_access(private, tmp_path):
    space_id, _url, _owner, member, stranger = private
    s = get_settings()
    for user, works in ((None, False), (stranger, False), (member, True)):
        auth = f"{user.name}:{user.token}@" if user else ""
        tree = WorkTree(tmp_path / (user.name if user else "anonymous"), example=None)
        run = tree.git("fetch", f"http://{auth}{s.domain}:{s.http_port}/spaces/{space_id}", "main", check=False)
        assert (run.returncode == 0) is works, output(run)
