"""The monitor: every ``SPACES_IDLE_CHECK_INTERVAL`` seconds, notice crashed apps
(:mod:`worker.crashes`) and idle Spaces (:mod:`worker.sleeper`), follow the output of new
containers (:mod:`worker.runlogs`), sample what they use (:mod:`worker.usage`) and the disk
(:mod:`worker.disk`).
``python -m worker.monitor``."""

from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Protocol

from core import store
from core.models import Space
from core.settings import get_settings
from worker.backends import get_backend
from worker.crashes import CrashWatcher
from worker.disk import DiskRecorder
from worker.runlogs import RunLogCollector
from worker.sleeper import Sleeper
from worker.usage import UsageRecorder

log = logging.getLogger(__name__)


class Check(Protocol):
    def check(self, spaces: list[Space], states: dict[str, tuple[str, str]]) -> None: ...


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings, r = get_settings(), store.get_redis()
    runtime = get_backend()
    checks: list[Check] = [CrashWatcher(r, runtime, settings), Sleeper(r, runtime, settings), RunLogCollector(r, runtime),
              UsageRecorder(r, runtime, settings), DiskRecorder(r, runtime)]
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    while True:
        try:  # one look at the records and the containers per tick, shared by every check
            spaces, states = store.list_spaces(r), runtime.states()
        except Exception:  # Redis or Docker away for a moment: try again next tick
            log.exception("reading the Spaces and their containers failed")
        else:
            for check in checks:
                try:
                    check.check(spaces, states)
                except Exception:  # one failed check must not stop the loop
                    log.exception("%s failed", type(check).__name__)
        time.sleep(settings.idle_check_interval)

if __name__ == "__main__":
    main()
