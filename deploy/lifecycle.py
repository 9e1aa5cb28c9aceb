"""Start and stop the platform on one host: ``python deploy/lifecycle.py up|down|status``.

``up`` starts what is not running yet and leaves alone what is: dockerd, Redis (AOF on, data in
the data directory), the runtime base images, Traefik, the controller, the waker, the builder and
run workers, the reconciler and the monitor. Each of those runs under supervisord (see
``deploy/supervision.py``), which starts it again when it dies; its log is in ``<data dir>/logs``.
A service is restarted by ``up`` only when its code or settings changed (its fingerprint). ``up``
also installs the host firewall (``deploy/firewall.py``: containers cannot open connections to
the host), reconciles once (so Spaces stopped by ``down`` come back), deploys the example Space
as user ``demo`` and prints the URLs. ``down`` stops what ``up`` started, Space containers,
supervisord and the firewall rules included. ``status`` shows each service's state and restarts.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

import firewall  # deploy/ is this script's folder, hence first on sys.path
from core import keys
from core.processes import stop_orphan_git_backends
from core.settings import get_settings
from supervision import Program, Supervision, SupervisorError, stop_orphans, supervised_pids

ROOT = Path(__file__).resolve().parent.parent

PY = sys.executable
VENV_BIN = Path(PY).parent


def say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    marker: str  # a string in /proc/<pid>/cmdline proving the pid is ours
    code: bool = True  # restart when the project's code changes (not Redis, not dockerd)


SOURCE_PACKAGES = ("core", "controller", "builder", "worker", "proxy")


def fingerprint(svc: Service) -> str:
    """What the running process was started from: argv, settings and (for our own processes) the code."""
    digest = hashlib.sha256("\0".join(svc.argv).encode())
    if svc.name == "traefik":
        digest.update((get_settings().data_dir / "traefik" / "traefik.yml").read_bytes())
    if svc.code:
        # The settings in effect, not the raw environment: SPACES_DATA_DIR=/var/lib/spaces set or left
        # to its default is the same platform and must not restart anything.
        digest.update(get_settings().model_dump_json().encode())
        for package in SOURCE_PACKAGES:
            for path in sorted((ROOT / package).rglob("*.py")):
                digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def services() -> list[Service]:
    s = get_settings()
    redis_url = httpx.URL(s.redis_url)
    return [
        Service("redis", ["redis-server", str(s.data_dir / "redis" / "auth.conf"), "--bind", "127.0.0.1", "--port", str(redis_url.port or 6379),
                          "--dir", str(s.data_dir / "redis"), "--appendonly", "yes", "--appendfsync", "everysec",
                          "--notify-keyspace-events", "KEA", "--protected-mode", "yes", "--save", ""],
                "redis-server", code=False),
        Service("traefik", [str(VENV_BIN / "traefik"), f"--configFile={s.data_dir / 'traefik' / 'traefik.yml'}"],
                "traefik", code=False),
        Service("controller", [PY, "-m", "uvicorn", "controller.app:app", "--host", "127.0.0.1",
                               "--port", str(s.controller_port), "--no-access-log", "--no-date-header"],
                "controller.app"),
        *(Service(f"builder-{i}", [PY, "-m", "core.worker_main", "builds", str(i)], f"worker_main builds {i}")
          for i in range(1, s.builders + 1)),
        *(Service(f"runner-{i}", [PY, "-m", "core.worker_main", "runs", str(i)], f"worker_main runs {i}")
          for i in range(1, s.runners + 1)),
        Service("waker", [PY, "-m", "worker.waker"], "worker.waker"),
        Service("reconciler", [PY, "-m", "worker.reconcile", "--interval", "10"], "worker.reconcile"),
        Service("monitor", [PY, "-m", "worker.monitor"], "worker.monitor"),
    ]


def pidfile(name: str) -> Path:
    return get_settings().data_dir / "run" / f"{name}.pid"


def read_pidfile(name: str) -> tuple[int, str] | None:
    try:
        pid, _, stamp = pidfile(name).read_text().strip().partition(" ")
        return int(pid), stamp
    except (OSError, ValueError):
        return None


def running_pid(name: str, marker: str) -> int | None:
    found = read_pidfile(name)
    if found is None:
        return None
    try:
        cmdline = Path(f"/proc/{found[0]}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return found[0] if marker in cmdline else None


def start_detached(svc: Service) -> bool:
    """Start ``svc`` in the background with a pid file, unless it runs as wanted (dockerd only:
    the platform's own services run under supervisord, see :func:`start`)."""
    stamp = fingerprint(svc)
    if running_pid(svc.name, svc.marker):
        if read_pidfile(svc.name)[1] == stamp:
            return False
        say(f"restarting {svc.name}: its code or settings changed")
        stop(svc.name, svc.marker)
    s = get_settings()
    with open(s.data_dir / "logs" / f"{svc.name}.log", "ab") as log:  # the child keeps its own copy
        proc = subprocess.Popen(svc.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=ROOT, env=os.environ.copy())
    pidfile(svc.name).write_text(f"{proc.pid} {stamp}")
    time.sleep(0.2)
    if proc.poll() is not None:
        fail(f"{svc.name} exited at once (code {proc.returncode}); see {s.data_dir / 'logs' / (svc.name + '.log')}")
    return True


def supervision() -> Supervision:
    return Supervision(get_settings().data_dir, ROOT, PY)


def program(svc: Service) -> Program:
    return Program(svc.name, svc.argv, fingerprint(svc), stop_wait=30 if svc.name == "redis" else 20)


def start(svc: Service) -> bool:
    """Have supervisord run ``svc`` unless it runs as wanted; returns True if it was (re)started."""
    sup = supervision()
    wanted = program(svc)
    info = sup.state(svc.name)
    if info and info["statename"] in ("RUNNING", "STARTING", "BACKOFF") and sup.fingerprints().get(svc.name) != wanted.fingerprint:
        say(f"restarting {svc.name}: its code or settings changed")
    try:
        return sup.ensure(wanted)
    except SupervisorError as exc:
        fail(str(exc))
        return False


def supervised(pid: int) -> bool:
    return supervision().is_child(pid)


def stop_unsupervised(svcs: list[Service]) -> None:
    """Stop services an older ``up`` started without supervision (pid files only), so that
    supervisord's copies do not meet them on their ports."""
    for svc in svcs:
        pid = running_pid(svc.name, svc.marker)
        if pid and not supervised(pid):
            say(f"moving {svc.name} under supervision")
            stop(svc.name, svc.marker)


def ensure_supervisor(svcs: list[Service]) -> Supervision:
    """supervisord running with the current programs (none of them started here)."""
    s = get_settings()
    sup = supervision()
    if sup.answering():
        stop_unsupervised(svcs)
    # The services get the SPACES_* settings from their own section, never from supervisord's
    # environment (which an earlier ``up`` gave it).
    try:
        sup.write_config([program(x) for x in svcs], {k: v for k, v in os.environ.items() if k.startswith("SPACES_")})
    except SupervisorError as exc:
        fail(str(exc))
    if not sup.answering():
        pid = sup.daemon_pid()
        if pid:
            os.kill(pid, signal.SIGKILL)  # alive but deaf: start a working one
        left = stop_orphans(s.data_dir)  # found by environment (Redis rewrites its own: by pid file too)
        left += sum(stop(x.name, x.marker) for x in svcs)
        if left:
            say(f"stopped {left} process(es) left running by a supervisord that died")
        say("starting supervisord")
        try:
            sup.start_daemon({k: v for k, v in os.environ.items() if not k.startswith("SPACES_")})
        except (SupervisorError, subprocess.CalledProcessError) as exc:
            fail(f"could not start supervisord: {exc}")
    sup.reload()
    return sup


def ensure_firewall() -> None:
    """Containers (Spaces, build sandboxes, image builds) may not open connections to the host."""
    from worker.backends.docker import DockerBackend

    DockerBackend().ensure_network()
    try:
        covered = firewall.install(firewall.platform_bridges(get_settings().space_network))
    except firewall.FirewallError as exc:
        fail(f"could not install the host firewall: {exc}")
    say(f"host firewall: containers on {', '.join(covered)} cannot open connections to the host")


def stop(name: str, marker: str, timeout: float = 20) -> bool:
    pid = running_pid(name, marker)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(name, marker):
        time.sleep(0.2)
    if running_pid(name, marker):
        os.kill(pid, signal.SIGKILL)
    if name != "dockerd":  # dockerd's containers are stopped by dockerd itself
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # what the service started and left behind
    if name == "controller":  # git http-backends run in groups of their own (see controller.git_http)
        stop_orphan_git_backends(get_settings().repos_dir)
    pidfile(name).unlink(missing_ok=True)
    return True


def wait_for(what: str, check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            pass
        time.sleep(0.25)
    fail(f"{what} did not come up within {timeout:.0f} s")


def docker_ok() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def ensure_dockerd() -> None:
    if docker_ok():
        return
    if shutil.which("dockerd") is None:
        fail("dockerd is not installed; run deploy/install.sh (make up does)")
    say("starting dockerd")
    start_detached(Service("dockerd", ["dockerd"], "dockerd", code=False))
    wait_for("dockerd", docker_ok, timeout=90)


def secret_file(path: Path, text: str) -> None:
    """Write ``path`` (mode 0600) unless it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)


def ensure_redis_password() -> None:
    """Redis requires a password, made at the first ``up``; every component reads it from the file."""
    s = get_settings()
    secret_file(s.redis_password_file, secrets.token_urlsafe(32) + "\n")
    password = s.redis_password_file.read_text().strip()
    conf = s.data_dir / "redis" / "auth.conf"
    secret_file(conf, "")
    conf.write_text(f'requirepass "{password}"\n')
    get_settings.cache_clear()


def up() -> None:
    ensure_redis_password()
    s = get_settings()
    for sub in ("logs", "run", "redis", "repos", "traefik", "cache/index-wheels", "work"):
        (s.data_dir / sub).mkdir(parents=True, exist_ok=True)
    legacy = s.data_dir / "cache" / "wheels"  # filled by host-side pip before build sandboxes: untrusted
    if legacy.is_dir():
        say(f"removing the old wheel cache {legacy} (its wheels were not checked against the package index)")
        shutil.rmtree(legacy, ignore_errors=True)
    ensure_dockerd()
    ensure_firewall()
    svc = {x.name: x for x in services()}
    ensure_supervisor(list(svc.values()))
    r = redis.Redis.from_url(s.redis_url, decode_responses=True)
    if start(svc["redis"]):
        say("starting Redis")
    wait_for("Redis", r.ping)
    r.config_set("notify-keyspace-events", "KEA")  # Traefik's Redis provider needs them
    say("checking the runtime base images")
    if subprocess.run([PY, "-m", "builder.base_images"], cwd=ROOT, check=False).returncode != 0:
        fail("building the runtime base images failed (see above)")
    subprocess.run([PY, "-m", "proxy.traefik"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    workers = [name for name in svc if name.startswith(("builder-", "runner-"))]
    for name in ("traefik", "controller", "waker", *workers):
        if start(svc[name]):
            say(f"starting {name}")
    stop_surplus_workers("builder", s.builders)
    stop_surplus_workers("runner", s.runners)
    wait_for("Traefik", lambda: httpx.get(f"{s.traefik_api_url}/ping", timeout=1).status_code == 200)
    wait_for("controller", lambda: httpx.get(f"{s.controller_url}/healthz", timeout=1).status_code == 200)
    say("reconciling Spaces and routes")
    if subprocess.run([PY, "-m", "worker.reconcile", "--interval", "0"], cwd=ROOT, check=False).returncode != 0:
        fail("the reconciler failed (see above)")
    for name in ("reconciler", "monitor"):
        if start(svc[name]):
            say(f"starting the {name}")
    public = s.public_url(s.domain)
    wait_for(f"the controller through Traefik at {public}",
             lambda: httpx.get(f"{public}/healthz", timeout=2).status_code == 200)
    admin = subprocess.run([str(VENV_BIN / "spaces"), "admin", "ensure-admin"], capture_output=True, text=True, cwd=ROOT, check=False)
    if admin.returncode != 0:
        fail(f"could not ensure an administrator: {admin.stderr.strip()}")
    url = deploy_example()
    print()
    print(f"Controller (API and git):  {public}/   (sign in at {public}/login)")
    print(f"Administrator's password and token:  {admin.stdout.strip()}")
    print(f"Example Space demo/hello-gradio:  {url}")
    print(f"Data and logs:  {s.data_dir}")


def demo_token(r: redis.Redis) -> str:
    """The demo user's write token, created once and kept in the data directory (mode 0600)."""
    path = get_settings().data_dir / "demo-token"
    if path.is_file() and r.sismember(keys.USERS, "demo") and r.exists(keys.token(hashlib.sha256(path.read_text().strip().encode()).hexdigest())):
        return path.read_text().strip()
    run = subprocess.run([str(VENV_BIN / "spaces"), "user", "create", "demo", "--exist-ok"],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    if run.returncode != 0:
        fail(f"could not create user demo: {run.stderr.strip()}")
    token = run.stdout.strip().splitlines()[-1]
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


EXAMPLE = ROOT / "examples" / "hello-gradio"


def deploy_example(source: Path = EXAMPLE) -> str:
    """Push ``source`` (examples/hello-gradio) as demo/hello-gradio; a no-op when its files are already live."""
    s = get_settings()
    r = redis.Redis.from_url(s.redis_url, decode_responses=True)
    token = demo_token(r)
    work = s.data_dir / "work" / "example-push"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # A fixed author and date make the commit id depend only on the files and the Space's head,
    # so a second `make up` pushes nothing and changes nothing; a changed example (a newer
    # checkout) is committed on top of what the Space has, so the push is a fast-forward.
    env = {**os.environ, "GIT_AUTHOR_NAME": "demo", "GIT_AUTHOR_EMAIL": "demo@localhost",
           "GIT_COMMITTER_NAME": "demo", "GIT_COMMITTER_EMAIL": "demo@localhost",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
           "GIT_TERMINAL_PROMPT": "0"}
    remote = f"http://demo:{token}@{s.domain}:{s.http_port}/spaces/demo/hello-gradio"
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=work, env=env, check=True)
    head = subprocess.run(["git", "fetch", "-q", remote, "main"], cwd=work, env=env, capture_output=True, check=False)
    if head.returncode == 0:  # the Space exists: build on its head
        subprocess.run(["git", "reset", "-q", "--soft", "FETCH_HEAD"], cwd=work, env=env, check=True)
    subprocess.run(["git", "add", "-A"], cwd=work, env=env, check=True)
    same = head.returncode == 0 and subprocess.run(["git", "diff", "--cached", "--quiet", "FETCH_HEAD"],
                                                   cwd=work, env=env, check=False).returncode == 0
    if not same:
        subprocess.run(["git", "commit", "-q", "-m", "hello-gradio example"], cwd=work, env=env, check=True)
    say("deploying examples/hello-gradio as demo/hello-gradio")
    push = subprocess.run(["git", "push", "-q", remote, "main"], cwd=work, env=env, check=False)
    shutil.rmtree(work, ignore_errors=True)
    space = r.hgetall(keys.space("demo/hello-gradio"))
    if push.returncode != 0 or space.get("stage") not in ("RUNNING", "SLEEPING"):
        fail(f"the example Space did not start (stage {space.get('stage')}): {space.get('error_message', '')}")
    return s.public_url(s.space_host(space["subdomain"])) + "/"


def stop_surplus_workers(kind: str, wanted: int) -> None:
    """Stop ``kind`` workers (builder, runner) beyond the wanted count, e.g. left by a larger setting.
    supervisord forgets its own surplus programs when it reads its new config; this stops those an
    older ``up`` started without it, and removes their pid files."""
    queue = {"builder": "builds", "runner": "runs"}[kind]
    for pid_path in sorted((get_settings().data_dir / "run").glob(f"{kind}*.pid")):
        name = pid_path.stem
        index = name.removeprefix(f"{kind}-")
        if not index.isdigit() or int(index) > wanted:
            pid = running_pid(name, f"worker_main {queue}")
            if pid and not supervised(pid) and stop(name, f"worker_main {queue}"):
                say(f"stopped {name}")
            pid_path.unlink(missing_ok=True)


def stop_service(sup: Supervision, svc: Service) -> bool:
    """Stop ``svc`` whether supervisord or an older ``up`` started it."""
    stopped = sup.stop(svc.name) if sup.answering() else False
    if stopped and svc.name == "controller":  # git http-backends run in groups of their own
        stop_orphan_git_backends(get_settings().repos_dir)
    return stop(svc.name, svc.marker) or stopped


def down() -> None:
    s = get_settings()
    sup = supervision()
    if not sup.answering() and supervised_pids(s.data_dir):
        say(f"stopped {stop_orphans(s.data_dir)} process(es) left running by a supervisord that died")
    for svc in reversed(services()):
        if svc.name != "redis" and stop_service(sup, svc):
            say(f"stopped {svc.name}")
    stop_surplus_workers("builder", 0)
    stop_surplus_workers("runner", 0)
    if docker_ok():
        ids = subprocess.run(["docker", "ps", "-q", "--filter", "label=org.spaces.managed=1"],
                             capture_output=True, text=True, check=False).stdout.split()
        if ids:
            subprocess.run(["docker", "stop", "-t", "10", *ids], capture_output=True, check=False)
            say(f"stopped {len(ids)} Space container(s)")
    redis_svc = next(x for x in services() if x.name == "redis")
    if stop_service(sup, redis_svc):  # SIGTERM: Redis syncs its append-only file and exits
        say("stopped Redis (its append-only file keeps every record)")
    if sup.shutdown():
        say("stopped supervisord")
    try:
        if firewall.remove():
            say("removed the host firewall rules")
    except firewall.FirewallError as exc:
        print(f"warning: could not remove the host firewall rules: {exc}", file=sys.stderr)
    if stop("dockerd", "dockerd", timeout=30):
        say("stopped dockerd")


def _uptime(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def status() -> None:
    s = get_settings()
    sup = supervision()
    if sup.answering():
        info = {x["name"]: x for x in sup.all_info()}
        restarts = sup.restarts()
        print(f"{'supervisord':12} running (pid {sup.daemon_pid()}), restarts each service that dies")
        for svc in services():
            x = info.get(svc.name)
            if x is None:
                print(f"{svc.name:12} not configured (run make up)")
                continue
            state = x["statename"]
            if state == "RUNNING":
                state = f"RUNNING (pid {x['pid']}, up {_uptime(max(0, x['now'] - x['start']))})"
            elif x.get("spawnerr"):
                state = f"{state} ({x['spawnerr']})"
            print(f"{svc.name:12} {state}, restarts: {restarts.get(svc.name, 0)}")
    else:
        print(f"{'supervisord':12} not running: nothing restarts services that die (make up starts it)")
        for svc in services():
            pid = running_pid(svc.name, svc.marker)
            print(f"{svc.name:12} {f'running (pid {pid}), unsupervised' if pid else 'not running'}")
    pid = running_pid("dockerd", "dockerd")
    print(f"{'dockerd':12} {f'running (pid {pid})' if pid else ('running' if docker_ok() else 'not running')}")
    try:
        bridges = firewall.platform_bridges(s.space_network) if docker_ok() else []
        shut = [b for b in bridges if firewall.installed(b)]
        print(f"{'firewall':12} {'containers on ' + ', '.join(shut) + ' cannot reach the host' if shut else 'not installed'}")
    except firewall.FirewallError as exc:
        print(f"{'firewall':12} unknown: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    args = parser.parse_args()
    if args.command == "status":
        status()
        return
    lock = get_settings().data_dir / "run" / "lifecycle.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another up or down is under way; waiting for it to end")
            fcntl.flock(held, fcntl.LOCK_EX)
        {"up": up, "down": down}[args.command]()


if __name__ == "__main__":
    main()
