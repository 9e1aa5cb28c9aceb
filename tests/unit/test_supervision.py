"""The supervisord configuration ``make up`` writes, read back by supervisor itself, and the event
listener's bookkeeping (restart counts, pid files)."""

from __future__ import annotations

import importlib.util
import json
import stat
import sys
from pathlib import Path

import pytest
from supervisor.options import ServerOptions

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", ROOT / "deploy" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


supervision = _load("supervision")


def _options(conf: Path) -> ServerOptions:
    options = ServerOptions()
    options.realize(args=["-c", str(conf)])
    return options


def test_config_supervises_every_program_and_restarts_the_dead(tmp_path):
    (tmp_path / "data" / "logs").mkdir(parents=True)
    sup = supervision.Supervision(tmp_path / "data", ROOT, sys.executable)
    programs = [supervision.Program("redis", ["redis-server", "/x/auth.conf", "--port", "6390"], "f1", stop_wait=30),
                supervision.Program("controller", [sys.executable, "-m", "uvicorn", "a 50% odd=arg"], "f2")]
    sup.write_config(programs, {"SPACES_DOMAIN": 'we"ird,%val', "SPACES_DATA_DIR": str(tmp_path / "data")})
    assert stat.S_IMODE(sup.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(sup.conf.stat().st_mode) == 0o600
    options = _options(sup.conf)
    assert options.server_configs[0]["file"] == str(sup.socket)
    assert options.server_configs[0]["chmod"] == 0o700
    groups = {g.name: g for g in options.process_group_configs}
    assert set(groups) == {"redis", "controller", supervision.LISTENER}
    controller = groups["controller"].process_configs[0]
    assert controller.command.endswith("'a 50% odd=arg'")  # argv survives quoting and % escaping
    assert controller.autorestart is not False and controller.autostart is False
    assert controller.exitcodes == [0]
    assert controller.stopasgroup and controller.killasgroup
    assert controller.environment["SPACES_DOMAIN"] == 'we"ird,%val'
    assert controller.environment[supervision.FINGERPRINT_VAR] == "f2"
    assert controller.environment[supervision.SUPERVISED_VAR] == str(tmp_path / "data")
    assert groups["redis"].process_configs[0].stopwaitsecs == 30


def test_listener_counts_unexpected_exits_and_keeps_pid_files(tmp_path):
    (tmp_path / "supervisor").mkdir()
    handle = supervision.handle_event
    handle(tmp_path, "PROCESS_STATE_EXITED", {"processname": "controller", "expected": "0", "pid": "10"}, {})
    handle(tmp_path, "PROCESS_STATE_EXITED", {"processname": "controller", "expected": "1", "pid": "11"}, {})
    handle(tmp_path, "PROCESS_STATE_BACKOFF", {"processname": "redis", "from_state": "STARTING"}, {})
    handle(tmp_path, "PROCESS_STATE_RUNNING", {"processname": "controller", "pid": "12"}, {"controller": "abc"})
    counts = json.loads((tmp_path / "supervisor" / "restarts.json").read_text())
    assert counts == {"controller": 1, "redis": 1}  # a clean, expected exit is no restart
    assert (tmp_path / "run" / "controller.pid").read_text() == "12 abc"


def test_a_worker_that_rq_stops_on_an_error_exits_non_zero(monkeypatch, redis_db):
    """RQ leaves work() on an error it does not handle (Redis killed under a job); supervisord only
    restarts an exit it did not expect, so the worker must not exit 0 then."""
    import core.worker_main as worker_main

    monkeypatch.setattr(worker_main.BoundWorker, "work", lambda self, **kwargs: False)
    monkeypatch.setattr(worker_main.sys, "argv", ["worker_main", "runs", "1"])
    with pytest.raises(SystemExit) as stopped:
        worker_main.main()
    assert stopped.value.code not in (0, None) and "supervisord starts it again" in str(stopped.value.code)

    def asked_to_stop(self, **kwargs):
        self._shutdown_requested_date = True  # as RQ's SIGTERM handler does first, idle or busy
        return True

    monkeypatch.setattr(worker_main.BoundWorker, "work", asked_to_stop)
    worker_main.main()  # a stop that was asked for ends with exit 0
