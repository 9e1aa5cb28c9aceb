"""The ``spaces`` command for users, run as a user would (its own HOME, a stored login), against the
running platform: every command, its ``--json`` output, and its failures (one line, exit 1; usage
errors exit 2)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time

import httpx
import pytest

from tests.helpers import SPACES_CLI, api, create_user, unique


@pytest.fixture
def cli(platform, tmp_path):
    """``cli(*args, input=None)`` runs ``spaces`` with a fresh HOME; ``cli.user`` is logged in after ``cli.login()``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACES_TOKEN")}
    env.update({"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"), "COLUMNS": "200"})

    def run(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([SPACES_CLI, *args], capture_output=True, text=True, env=env, input=input, timeout=600, check=False)

    run.user = create_user()
    run.home = tmp_path / "home"

    def login() -> None:
        done = run("login", "--token", run.user.token)
        assert done.returncode == 0, done.stderr

    run.login = login
    return run


def static_folder(path, text: str = "<h1>hello from the cli</h1>"):
    path.mkdir(parents=True, exist_ok=True)
    (path / "README.md").write_text("---\ntitle: cli\nsdk: static\n---\n")
    (path / "index.html").write_text(text)
    return path


def one_line_error(run: subprocess.CompletedProcess, message: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()  # a progress bar may come first, on stderr too
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:] and message in errors[0], run.stderr


def test_login_stores_the_token_privately_and_whoami_reads_it(cli):
    one_line_error(cli("login", "--token", "spc_wrong"), "invalid or revoked access token")
    one_line_error(cli("whoami"), "authentication required")
    cli.login()
    config = cli.home / ".config" / "spaces" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600 and json.loads(config.read_text())["token"] == cli.user.token
    me = cli("whoami", "--json")
    assert me.returncode == 0 and json.loads(me.stdout)["name"] == cli.user.name
    assert cli.user.name in cli("whoami").stdout


def test_push_creates_builds_and_prints_the_url_then_only_sends_changes(cli, tmp_path):
    cli.login()
    folder = static_folder(tmp_path / "site")
    (folder / "old.txt").write_text("to be removed")
    first = cli("push", str(folder), "--name", "site")
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Created {cli.user.name}/site" in first.stdout and "Build Queued" in first.stdout
    url = first.stdout.strip().splitlines()[-1].split("running at ")[1].strip()
    assert httpx.get(url, timeout=30).text == "<h1>hello from the cli</h1>"

    again = cli("push", str(folder), "--name", "site")
    assert again.returncode == 0 and "Nothing changed" in again.stdout

    (folder / "index.html").write_text("<h1>second</h1>")
    (folder / "old.txt").unlink()
    second = cli("push", str(folder), "--name", "site", "--json")
    result = json.loads(second.stdout)
    assert second.returncode == 0 and result["stage"] == "RUNNING" and result["url"] == url
    assert httpx.get(url, timeout=30).text == "<h1>second</h1>"
    files = {s["rfilename"] for s in api("GET", f"/api/spaces/{cli.user.name}/site", cli.user).json()["siblings"]}
    assert files == {"README.md", "index.html"}
    api("DELETE", f"/api/spaces/{cli.user.name}/site", cli.user)


def test_push_failures_say_why(cli, tmp_path):
    one_line_error(cli("push", str(static_folder(tmp_path / "x"))), "not logged in")
    cli.login()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(cli("push", str(empty)), "has no files to push")
    (empty / "app.py").write_text("print('hi')\n")
    one_line_error(cli("push", str(empty), "--name", unique("noreadme")), "has no README.md")
    broken = static_folder(tmp_path / "broken")
    (broken / "index.html").unlink()
    (broken / "other.html").write_text("x")
    name = unique("broken")
    failed = cli("push", str(broken), "--name", name)
    one_line_error(failed, "failed: app file 'index.html' not found in the repository")
    api("DELETE", f"/api/spaces/{cli.user.name}/{name}", cli.user)


def test_create_ls_status_logs_and_owner_actions(cli, tmp_path):
    cli.login()
    name = unique("made")
    created = cli("create", name, "--sdk", "static", "--json")
    assert created.returncode == 0 and json.loads(created.stdout)["id"] == f"{cli.user.name}/{name}"
    one_line_error(cli("create", name, "--sdk", "static"), "already")
    one_line_error(cli("create", unique("x"), "--sdk", "flask"), "sdk must be one of gradio, streamlit, docker, static")
    assert cli("push", str(static_folder(tmp_path / "s")), "--name", name).returncode == 0

    listed = cli("ls", "--author", cli.user.name, "--json")
    assert [s["id"] for s in json.loads(listed.stdout)] == [f"{cli.user.name}/{name}"]
    assert f"{cli.user.name}/{name}" in cli("ls", "--author", cli.user.name).stdout
    assert json.loads(cli("status", name, "--json").stdout)["runtime"]["stage"] == "RUNNING"
    assert "RUNNING" in cli("status", name).stdout
    one_line_error(cli("status", unique("absent")), "does not exist")
    build_log = cli("logs", name, "--build")
    assert build_log.returncode == 0 and "===== Build Queued at" in build_log.stdout
    assert cli("logs", name, "--build", "--run").returncode == 2
    # --follow stays with a build under way and ends when it has been deployed.
    (tmp_path / "s" / "index.html").write_text("<h1>again</h1>")
    assert cli("push", str(tmp_path / "s"), "--name", name, "--no-follow").returncode == 0
    followed = cli("logs", name, "--build", "--follow")
    assert followed.returncode == 0 and "===== Running at" in followed.stdout.strip().splitlines()[-1], followed.stdout

    assert cli("sleeptime", name, "600").returncode == 0
    assert json.loads(cli("status", name, "--json").stdout)["runtime"]["gcTimeout"] == 600
    assert cli("sleeptime", name, "soon").returncode == 2
    one_line_error(cli("sleeptime", name, "0"), "seconds must be -1")
    assert cli("pause", name).returncode == 0
    assert json.loads(cli("status", name, "--json").stdout)["runtime"]["stage"] == "PAUSED"
    assert cli("restart", name).returncode == 0
    assert cli("restart", name, "--factory", "--json").returncode == 0

    other = create_user()
    one_line_error(cli("pause", f"{other.name}/{name}"), "does not exist")
    aborted = cli("delete", name, input="n\n")
    assert aborted.returncode == 1 and api("GET", f"/api/spaces/{cli.user.name}/{name}", cli.user).status_code == 200
    assert cli("delete", name, "--yes").returncode == 0
    deadline = time.monotonic() + 60
    while api("GET", f"/api/spaces/{cli.user.name}/{name}", cli.user).status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert api("GET", f"/api/spaces/{cli.user.name}/{name}", cli.user).status_code == 404


def test_vars_and_secrets(cli, tmp_path):
    cli.login()
    name = unique("env")
    assert cli("push", str(static_folder(tmp_path / "s")), "--name", name).returncode == 0
    assert cli("vars", "set", name, "COLOR", "blue", "--description", "the colour").returncode == 0
    assert json.loads(cli("vars", "ls", name, "--json").stdout)["COLOR"]["value"] == "blue"
    assert "COLOR=blue" in cli("vars", "ls", name).stdout
    assert cli("secrets", "set", name, "API_KEY", input="s3cret-from-stdin\n").returncode == 0
    listed = cli("secrets", "ls", name, "--json")
    assert list(json.loads(listed.stdout)) == ["API_KEY"] and "s3cret-from-stdin" not in listed.stdout
    one_line_error(cli("vars", "set", name, "1BAD", "x"), "invalid variable name '1BAD'")
    one_line_error(cli("secrets", "rm", name, "MISSING"), "has no secret 'MISSING'")
    assert cli("secrets", "rm", name, "API_KEY").returncode == 0
    assert cli("vars", "rm", name, "COLOR").returncode == 0
    assert json.loads(cli("vars", "ls", name, "--json").stdout) == {}
    api("DELETE", f"/api/spaces/{cli.user.name}/{name}", cli.user)
