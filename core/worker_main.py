"""Start an RQ worker on one of the platform's queues: ``python -m core.worker_main builds|runs``."""

from __future__ import annotations

import logging
import sys

import redis

from core import keys
from core.horse import BoundWorker
from core.queues import forget_dead_workers
from core.settings import get_settings


def main() -> None:
    queue = sys.argv[1] if len(sys.argv) > 1 else ""  # an optional second argument numbers the worker
    if queue not in (keys.QUEUE_BUILDS, keys.QUEUE_RUNS):
        sys.exit(f"usage: python -m core.worker_main {keys.QUEUE_BUILDS}|{keys.QUEUE_RUNS}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    connection = redis.Redis.from_url(get_settings().redis_url)
    forgotten = forget_dead_workers(connection)
    if forgotten:
        logging.getLogger("spaces.worker_main").info("unregistered %d worker(s) that died without saying so", forgotten)
    worker = BoundWorker([queue], connection=connection)
    worker.work(with_scheduler=False)  # its horse dies with it
    if worker._shutdown_requested_date is None:  # set by RQ's SIGTERM/SIGINT handler, idle or busy
        # RQ returns from work() on an error it does not handle (Redis gone for a moment): exit
        # non-zero, so supervisord restarts the worker (exit 0 is taken for a stop it asked for).
        sys.exit(f"the {queue} worker stopped on an error (see above); supervisord starts it again")


if __name__ == "__main__":
    main()
