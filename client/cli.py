"""``spaces``: manage Spaces from a terminal, without git. Every command talks to the platform's
HTTP API; ``--json`` prints machine-readable output; a failure prints ``error: <reason>`` and
exits 1 (usage errors exit 2).

    spaces login                      store a token (asked for, not echoed)
    spaces push ./my-demo             create the Space if needed, upload, follow the build, print the URL
    spaces logs my-demo --run -f      follow the app's output
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from client.api import CliError, Platform, commit_body, local_files, save_config, wait_for_stage

app = typer.Typer(help="Manage Spaces on a self-hosted Spaces platform.", no_args_is_help=True, add_completion=False)
secrets_app = typer.Typer(help="A Space's secrets (values are never shown).", no_args_is_help=True)
vars_app = typer.Typer(help="A Space's variables.", no_args_is_help=True)
app.add_typer(secrets_app, name="secrets")
app.add_typer(vars_app, name="vars")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Name = Annotated[str, typer.Argument(help="owner/name, or name in your own namespace.")]
FINISHED = ("RUNNING", "SLEEPING", "PAUSED", "STOPPED")
FAILED = ("NO_APP_FILE", "CONFIG_ERROR", "BUILD_ERROR", "RUNTIME_ERROR")


def emit(as_json: bool, data, human: str | None = None) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
    elif human is not None:
        out.print(human)


def platform() -> Platform:
    return Platform.from_login()


@app.command()
def login(
    token: Annotated[str | None, typer.Option(help="An access token (asked for when omitted).")] = None,
    endpoint: Annotated[str | None, typer.Option(help="The platform's URL.")] = None,
) -> None:
    """Check a token and store it for the other commands."""
    token = token or typer.prompt("Access token", hide_input=True)
    target = Platform.from_login(endpoint)
    target.token = token.strip()
    name = target.me()
    path = save_config(target.endpoint, target.token)
    out.print(f"[green]Logged in as [bold]{name}[/bold] at {target.endpoint}[/green] (token stored in {path})")


@app.command()
def whoami(as_json: Json = False) -> None:
    """Who the stored token belongs to."""
    me = platform().json("GET", "/api/whoami-v2")
    orgs = ", ".join(f"{o['name']} ({o['roleInOrg']})" for o in me.get("orgs", [])) or "none"
    emit(as_json, me, f"[bold]{me['name']}[/bold]  token: {me['auth'].get('accessToken', {}).get('role', '?')}  organizations: {orgs}")


@app.command()
def create(
    name: Name,
    sdk: Annotated[str, typer.Option(help="gradio, streamlit, docker or static.")] = "gradio",
    private: Annotated[bool, typer.Option("--private", help="Only you (and your organization) can see it.")] = False,
    as_json: Json = False,
) -> None:
    """Create an empty Space."""
    p = platform()
    owner, _, repo = p.space_id(name).partition("/")
    created = p.json("POST", "/api/repos/create",
                     json={"name": repo, "organization": owner, "type": "space", "sdk": sdk, "private": private})
    emit(as_json, created, f"[green]Created {created['id']}[/green]: push files with 'spaces push DIR --name {created['id']}'")


def _front_matter_sdk(folder: Path) -> str:
    readme = folder / "README.md"
    if not readme.is_file():
        raise CliError(f"{folder} has no README.md; it needs front matter such as '---\\nsdk: gradio\\n---'")
    text = readme.read_text(errors="replace")
    if text.startswith("---"):
        try:
            data = yaml.safe_load(text.split("---", 2)[1]) or {}
        except yaml.YAMLError as exc:
            raise CliError(f"README.md front matter is not valid YAML: {exc}") from None
        if isinstance(data, dict) and data.get("sdk"):
            return str(data["sdk"])
    raise CliError("README.md front matter has no 'sdk' (gradio, streamlit, docker or static)")


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@app.command()
def push(
    folder: Annotated[Path, typer.Argument(help="The Space's files (README.md with front matter, app, requirements).")],
    name: Annotated[str | None, typer.Option(help="owner/name; default: the folder's name in your namespace.")] = None,
    message: Annotated[str, typer.Option("-m", "--message", help="Commit message.")] = "Upload with spaces push",
    follow: Annotated[bool, typer.Option(help="Follow the build until the Space runs.")] = True,
    as_json: Json = False,
) -> None:
    """Upload a folder as the Space's new version (created if needed), then follow the build log until the URL prints."""
    p = platform()
    space_id = p.space_id(name or folder.resolve().name)
    files = local_files(folder)
    found = p.request("GET", f"/api/spaces/{space_id}", ok=(200, 404))
    if found.status_code == 404:
        owner, _, repo = space_id.partition("/")
        p.json("POST", "/api/repos/create", json={"name": repo, "organization": owner, "type": "space", "sdk": _front_matter_sdk(folder)})
        remote = {}
        if not as_json:
            out.print(f"Created [bold]{space_id}[/bold]")
    else:
        remote = {s["rfilename"]: s.get("blobId") for s in found.json().get("siblings", [])}
    changed = {rel: path for rel, path in files.items() if remote.get(rel) != _git_blob_id(path.read_bytes())}
    deletions = sorted(set(remote) - set(files))
    if not changed and not deletions:
        runtime = p.json("GET", f"/api/spaces/{space_id}")
        emit(as_json, {"id": space_id, "commit": None, "url": runtime.get("url")},
             f"Nothing changed; {space_id} is at {runtime.get('url')}")
        return
    total = sum(path.stat().st_size for path in changed.values())
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=err, disable=as_json) as bar:
        task = bar.add_task(f"uploading {len(changed)} file(s)", total=total or 1)
        body = commit_body(changed, deletions, message, lambda n: bar.advance(task, n))
        result = p.json("POST", f"/api/spaces/{space_id}/commit/main", content=body, timeout=600,
                        headers={"Content-Type": "application/x-ndjson", "Content-Length": str(len(body))})
        bar.update(task, completed=total or 1)
    if not as_json:
        out.print(f"Committed {result['commitOid'][:12]}: {len(changed)} file(s) changed, {len(deletions)} removed; build #{result['build']}")
    if not follow:
        emit(as_json, {"id": space_id, "commit": result["commitOid"], "build": result["build"]}, "Not following the build (--no-follow).")
        return
    for line in p.events(f"/api/spaces/{space_id}/logs/build?build={result['build']}", follow=True):
        if not as_json:
            out.print(line, markup=False, style="dim", soft_wrap=True)
    built: dict = next((b for b in p.json("GET", f"/api/spaces/{space_id}/builds") if b["id"] == str(result["build"])), {})
    if built.get("status") in ("failed", "superseded"):
        emit(as_json, {"id": space_id, "commit": result["commitOid"], "build": result["build"], "error": built.get("error")})
        raise CliError(f"build #{result['build']} {built['status']}: {built.get('error') or 'see spaces logs --build'}")
    runtime = wait_for_stage(p, space_id, lambda stage: stage in FINISHED or stage in FAILED, timeout=600)
    info = p.json("GET", f"/api/spaces/{space_id}")
    summary = {"id": space_id, "commit": result["commitOid"], "build": result["build"], "stage": runtime["stage"],
               "url": info.get("url"), "error": runtime.get("errorMessage")}
    if runtime["stage"] in FINISHED:
        emit(as_json, summary, f"[green]Your Space is running at [bold]{info.get('url')}[/bold][/green]")
        return
    emit(as_json, summary)
    raise CliError(f"{space_id} is {runtime['stage']}: {runtime.get('errorMessage') or 'see spaces logs'}")


@app.command("ls")
def list_spaces(
    author: Annotated[str | None, typer.Option(help="Only this user's or organization's Spaces.")] = None,
    search: Annotated[str | None, typer.Option(help="Only Spaces whose id contains this.")] = None,
    as_json: Json = False,
) -> None:
    """List Spaces, newest first."""
    params = {k: v for k, v in (("author", author), ("search", search), ("limit", 1000)) if v}
    spaces = platform().json("GET", "/api/spaces", params=params)
    if as_json:
        emit(True, spaces)
        return
    table = Table("id", "sdk", "stage", "url", box=None, header_style="bold")
    for s in spaces:
        stage = s["runtime"]["stage"]
        colour = "green" if stage == "RUNNING" else "red" if "ERROR" in stage else "yellow"
        table.add_row(s["id"] + (" 🔒" if s.get("private") else ""), s.get("sdk") or "", f"[{colour}]{stage}[/{colour}]", s["url"])
    out.print(table if spaces else "No Spaces.")


@app.command()
def status(name: Name, as_json: Json = False) -> None:
    """A Space's stage, hardware, sleep time and URL (and error, if any)."""
    p = platform()
    info = p.json("GET", f"/api/spaces/{p.space_id(name)}")
    rt = info["runtime"]
    lines = [f"[bold]{info['id']}[/bold]  {rt['stage']}", f"url: {info['url']}", f"hardware: {rt['hardware']['requested']}",
             f"sleeps after: {rt['gcTimeout']} s idle" if rt.get("gcTimeout") else "sleeps: never",
             f"visibility: {info.get('visibility', 'public')}"]
    if rt.get("errorMessage"):
        lines.append(f"[red]error: {rt['errorMessage']}[/red]")
    emit(as_json, info, "\n".join(lines))


@app.command()
def logs(
    name: Name,
    build: Annotated[bool, typer.Option("--build", help="The latest build's log.")] = False,
    run: Annotated[bool, typer.Option("--run", help="The app's output (the default).")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
) -> None:
    """Print a Space's build log or the app's output."""
    if build and run:
        raise typer.BadParameter("give --build or --run, not both")
    p = platform()
    kind = "build" if build else "run"
    for line in p.events(f"/api/spaces/{p.space_id(name)}/logs/{kind}", follow=follow):
        print(line, flush=True)


@app.command()
def restart(name: Name, factory: Annotated[bool, typer.Option("--factory", help="Rebuild without any cache.")] = False,
            as_json: Json = False) -> None:
    """Restart a Space (also one you paused)."""
    p = platform()
    space_id = p.space_id(name)
    result = p.json("POST", f"/api/spaces/{space_id}/restart", params={"factory": "true"} if factory else None)
    emit(as_json, result, f"Restarting {space_id}" + (" from a fresh build" if factory else ""))


@app.command()
def pause(name: Name, as_json: Json = False) -> None:
    """Stop a Space until you restart it; visitors are told it is paused."""
    p = platform()
    space_id = p.space_id(name)
    emit(as_json, p.json("POST", f"/api/spaces/{space_id}/pause"), f"Paused {space_id}")


@app.command()
def sleeptime(name: Name, seconds: Annotated[int, typer.Argument(help="Idle seconds before it sleeps; -1: never.")],
              as_json: Json = False) -> None:
    """Set how long a Space may stay idle before it sleeps."""
    p = platform()
    space_id = p.space_id(name)
    result = p.json("POST", f"/api/spaces/{space_id}/sleeptime", json={"seconds": seconds})
    emit(as_json, result, f"{space_id} sleeps after {seconds} s idle" if seconds >= 0 else f"{space_id} never sleeps")


@app.command()
def delete(name: Name, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False, as_json: Json = False) -> None:
    """Delete a Space: its app, files, settings and history."""
    p = platform()
    space_id = p.space_id(name)
    if not yes:
        typer.confirm(f"Delete {space_id} and everything in it?", abort=True)
    emit(as_json, p.json("DELETE", f"/api/spaces/{space_id}"), f"Deleting {space_id}")


def _env_commands(group: typer.Typer, kind: str) -> None:
    @group.command("set")
    def set_entry(name: Name, key: str, value: Annotated[str | None, typer.Argument(help="Read from standard input when omitted.")] = None,
                  description: str = "", as_json: Json = False) -> None:
        p = platform()
        space_id = p.space_id(name)
        value = value if value is not None else sys.stdin.read().rstrip("\n")
        result = p.json("POST", f"/api/spaces/{space_id}/{kind}", json={"key": key, "value": value, "description": description})
        emit(as_json, result, f"{key} set on {space_id}; it restarts with it")

    @group.command("ls")
    def list_entries(name: Name, as_json: Json = False) -> None:
        p = platform()
        entries = p.json("GET", f"/api/spaces/{p.space_id(name)}/{kind}")
        human = "\n".join(f"{k}" + (f"={v['value']}" if "value" in v else "") + (f"  [dim]{v['description']}[/dim]" if v.get("description") else "")
                          for k, v in entries.items()) or f"No {kind}."
        emit(as_json, entries, human)

    @group.command("rm")
    def remove_entry(name: Name, key: str, as_json: Json = False) -> None:
        p = platform()
        space_id = p.space_id(name)
        emit(as_json, p.json("DELETE", f"/api/spaces/{space_id}/{kind}", json={"key": key}), f"{key} removed from {space_id}")


_env_commands(secrets_app, "secrets")
_env_commands(vars_app, "variables")


def run(application: typer.Typer) -> None:
    """Run ``application``: a CliError becomes one line on stderr and exit code 1 (typer itself
    turns usage errors into exit code 2)."""
    try:
        application()
    except CliError as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        sys.exit(1)


def main() -> None:
    run(app)
