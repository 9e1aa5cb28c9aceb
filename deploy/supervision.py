"""Supervision of the platform's processes with supervisord (PyPI's ``supervisor``).

``deploy/lifecycle.py up`` writes ``<data dir>/supervisor/supervisord.conf``, starts ``supervisord``
(its control socket is a unix socket in a root-only 0700 folder, itself 0700) and asks it to start
each service in order. A service that dies without being asked to (``kill -9``, a crash) is started
again at once; one that fails right at start is retried after 1, 2, 3… s (supervisord's backoff).
A service that exits cleanly (status 0, e.g. after SIGTERM) was stopped on purpose and stays down.

The event listener (``python deploy/supervision.py listen <state dir>``, a program of the same
supervisord) counts each service's unexpected exits for ``make status`` and keeps
``<data dir>/run/<name>.pid`` current (``<pid> <fingerprint>``), which tests and tools read.

Named ``supervision`` (not ``supervisor``) so that it never shadows the package it drives.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

FINGERPRINT_VAR = "SPACES_FINGERPRINT"
SUPERVISED_VAR = "SPACES_SUPERVISED"  # marks every process supervisord started for this data dir
LISTENER = "spaces-events"
RUNNING_STATES = {"STARTING", "RUNNING", "BACKOFF"}


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]
    fingerprint: str
    stop_wait: int = 20


class SupervisorError(RuntimeError):
    pass


def _escape(value: str) -> str:
    return value.replace("%", "%%")


def _env_value(value: str) -> str:
    """Quoted for supervisord's ``environment=`` (shlex without escapes: a value may hold one
    kind of quote, not both)."""
    for quote in ('"', "'"):
        if quote not in value:
            return quote + _escape(value) + quote
    raise SupervisorError(f"an environment value holds both kinds of quotes, which supervisord cannot pass: {value[:40]!r}")


class Supervision:
    """One platform's supervisord: its files, its config and its XML-RPC interface."""

    def __init__(self, data_dir: Path, root: Path, python: str) -> None:
        self.data_dir = data_dir
        self.root = root
        self.python = python
        self.dir = data_dir / "supervisor"
        self.conf = self.dir / "supervisord.conf"
        self.socket = self.dir / "supervisord.sock"
        self.pidfile = self.dir / "supervisord.pid"
        self.restarts_file = self.dir / "restarts.json"
        self.fingerprints_file = self.dir / "fingerprints.json"

    # ------------------------------------------------------------------ config

    def render(self, programs: list[Program], env: dict[str, str]) -> str:
        logs = self.data_dir / "logs"
        lines = [
            "[unix_http_server]", f"file={_escape(str(self.socket))}", "chmod=0700", "",
            "[supervisord]", f"logfile={_escape(str(logs / 'supervisord.log'))}", "logfile_maxbytes=10MB",
            "logfile_backups=3", f"pidfile={_escape(str(self.pidfile))}", f"childlogdir={_escape(str(logs))}",
            "identifier=spaces", "umask=022", "",
            "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{_escape(str(self.socket))}", "",
        ]
        marker = {SUPERVISED_VAR: str(self.data_dir)}
        for program in programs:
            environment = {**env, **marker, FINGERPRINT_VAR: program.fingerprint}
            lines += [
                f"[program:{program.name}]",
                f"command={_escape(shlex.join(program.argv))}",
                f"directory={_escape(str(self.root))}",
                "environment=" + ",".join(f"{key}={_env_value(value)}" for key, value in sorted(environment.items())),
                "autostart=false", "autorestart=unexpected", "exitcodes=0",
                "startsecs=1", "startretries=50",
                "stopsignal=TERM", f"stopwaitsecs={program.stop_wait}", "stopasgroup=true", "killasgroup=true",
                "redirect_stderr=true", f"stdout_logfile={_escape(str(logs / (program.name + '.log')))}",
                "stdout_logfile_maxbytes=50MB", "stdout_logfile_backups=3", "",
            ]
        listener = [self.python, str(Path(__file__).resolve()), "listen", str(self.data_dir)]
        lines += [
            f"[eventlistener:{LISTENER}]", f"command={_escape(shlex.join(listener))}",
            f"directory={_escape(str(self.root))}", "events=PROCESS_STATE", "buffer_size=1000",
            "autostart=true", "autorestart=true", "startsecs=1",
            f"environment={SUPERVISED_VAR}={_env_value(str(self.data_dir))}",
            "stdout_logfile=NONE", f"stderr_logfile={_escape(str(logs / 'supervision.log'))}", "stderr_logfile_maxbytes=10MB", "",
        ]
        return "\n".join(lines)

    def write_config(self, programs: list[Program], env: dict[str, str]) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.dir.chmod(0o700)
        fd = os.open(self.conf.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.render(programs, env))
        os.replace(self.conf.with_suffix(".tmp"), self.conf)

    # ------------------------------------------------------------------ the daemon

    def rpc(self):
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def daemon_pid(self) -> int | None:
        """supervisord's pid if it runs (its pid file names a live supervisord)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"supervisord" in cmdline else None

    def is_child(self, pid: int) -> bool:
        """Whether supervisord started ``pid`` (and so will restart it)."""
        daemon = self.daemon_pid()
        try:
            return daemon is not None and int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == daemon
        except (OSError, ValueError, IndexError):
            return False

    def answering(self) -> bool:
        try:
            return self.rpc().getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Error):
            return False

    def start_daemon(self, env: dict[str, str]) -> None:
        supervisord = Path(self.python).parent / "supervisord"
        self.restarts_file.unlink(missing_ok=True)  # counted per supervisord, like its uptime
        self.fingerprints_file.unlink(missing_ok=True)  # it runs nothing yet
        subprocess.run([str(supervisord), "-c", str(self.conf)], env=env, cwd=self.root, check=True,
                       stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not self.answering():
            if time.monotonic() > deadline:
                raise SupervisorError(f"supervisord did not answer on {self.socket}; see {self.data_dir / 'logs' / 'supervisord.log'}")
            time.sleep(0.1)

    def shutdown(self, timeout: float = 60) -> bool:
        pid = self.daemon_pid()
        if pid is None:
            return False
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            self.rpc().shutdown()
        deadline = time.monotonic() + timeout
        while self.daemon_pid() and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.daemon_pid():
            os.kill(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------------ programs

    def reload(self) -> None:
        """Read the config again; programs gone from it are stopped and forgotten."""
        added, changed, removed = self.rpc().reloadConfig()[0]
        for name in removed:
            with contextlib.suppress(xmlrpc.client.Fault):
                self.rpc().stopProcessGroup(name, True)
            with contextlib.suppress(xmlrpc.client.Fault):
                self.rpc().removeProcessGroup(name)
        for name in added:
            self.rpc().addProcessGroup(name)
        if LISTENER in changed:
            self._readd(LISTENER)
            self.rpc().startProcessGroup(LISTENER, True)

    def _readd(self, name: str) -> None:
        with contextlib.suppress(xmlrpc.client.Fault):
            self.rpc().stopProcessGroup(name, True)
        with contextlib.suppress(xmlrpc.client.Fault):
            self.rpc().removeProcessGroup(name)
        self.rpc().addProcessGroup(name)

    def state(self, name: str) -> dict | None:
        try:
            return self.rpc().getProcessInfo(name)
        except xmlrpc.client.Fault:
            return None

    def ensure(self, program: Program) -> bool:
        """Run ``program`` as configured; True if it was (re)started."""
        info = self.state(program.name)
        known = self.fingerprints().get(program.name)
        if info and info["statename"] in RUNNING_STATES and known == program.fingerprint:
            return False
        self._readd(program.name)  # picks up its current section of the config
        try:
            self.rpc().startProcess(program.name, True)
        except xmlrpc.client.Fault as exc:
            raise SupervisorError(f"{program.name} did not start ({exc.faultString}); see "
                                  f"{self.data_dir / 'logs' / (program.name + '.log')}") from exc
        self._remember(program)
        return True

    def stop(self, name: str) -> bool:
        info = self.state(name)
        if not info or info["statename"] not in RUNNING_STATES:
            return False
        with contextlib.suppress(xmlrpc.client.Fault):  # NOT_RUNNING: it ended meanwhile
            self.rpc().stopProcess(name, True)
        (self.data_dir / "run" / f"{name}.pid").unlink(missing_ok=True)
        return True

    def fingerprints(self) -> dict[str, str]:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.fingerprints_file.read_text())
        return {}

    def _remember(self, program: Program) -> None:
        known = self.fingerprints()
        known[program.name] = program.fingerprint
        self.fingerprints_file.write_text(json.dumps(known, indent=1))
        info = self.state(program.name)
        if info and info["pid"]:
            write_pidfile(self.data_dir, program.name, info["pid"], program.fingerprint)

    def restarts(self) -> dict[str, int]:
        with contextlib.suppress(OSError, ValueError):
            return json.loads(self.restarts_file.read_text())
        return {}

    def all_info(self) -> list[dict]:
        return self.rpc().getAllProcessInfo()


def _replace_text(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all. The temporary name is the writer's own: ``make up`` and
    the event listener both write a pid file when a program starts."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_pidfile(data_dir: Path, name: str, pid: int, fingerprint: str) -> None:
    path = data_dir / "run" / f"{name}.pid"
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_text(path, f"{pid} {fingerprint}")


def supervised_pids(data_dir: Path) -> list[int]:
    """Processes supervisord started for ``data_dir`` (and their children), found by their
    environment: left running when supervisord itself was killed."""
    marker = f"{SUPERVISED_VAR}={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def stop_orphans(data_dir: Path, timeout: float = 20) -> int:
    """Stop what a dead supervisord left running (SIGTERM, then SIGKILL): a new supervisord would
    otherwise start a second copy of each. Returns how many processes there were."""
    pids = supervised_pids(data_dir)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and supervised_pids(data_dir):
        time.sleep(0.2)
    for pid in supervised_pids(data_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


# ---------------------------------------------------------------------- the event listener

def _count_exit(data_dir: Path, name: str) -> None:
    path = data_dir / "supervisor" / "restarts.json"
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError):
        counts = json.loads(path.read_text())
    counts[name] = counts.get(name, 0) + 1
    _replace_text(path, json.dumps(counts, indent=1))


def handle_event(data_dir: Path, event: str, payload: dict[str, str], fingerprints: dict[str, str]) -> None:
    name = payload.get("processname", "")
    if not name or name == LISTENER:
        return
    exited = event == "PROCESS_STATE_EXITED" and payload.get("expected") == "0"
    failed_to_start = event == "PROCESS_STATE_BACKOFF" and payload.get("from_state") == "STARTING"
    if exited or failed_to_start:
        _count_exit(data_dir, name)
    elif event == "PROCESS_STATE_RUNNING" and payload.get("pid"):
        write_pidfile(data_dir, name, int(payload["pid"]), fingerprints.get(name, ""))


def listen(data_dir: Path) -> None:
    """supervisord's event listener protocol on stdin/stdout (see supervisor.childutils)."""
    from supervisor import childutils

    while True:
        headers, body = childutils.listener.wait(sys.stdin, sys.stdout)
        try:
            payload = dict(token.split(":", 1) for token in body.split() if ":" in token)
            fingerprints: dict[str, str] = {}
            with contextlib.suppress(OSError, ValueError):
                fingerprints = json.loads((data_dir / "supervisor" / "fingerprints.json").read_text())
            handle_event(data_dir, headers.get("eventname", ""), payload, fingerprints)
        except Exception as exc:  # noqa: BLE001 - never stall supervisord's event queue
            print(f"spaces-events: {exc!r}", file=sys.stderr, flush=True)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "listen":
        listen(Path(sys.argv[2]))
    else:
        sys.exit("usage: supervision.py listen <data dir>")
