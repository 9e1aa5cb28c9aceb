"""The ``post-receive`` hook of every Space repository.

git runs it after a push has stored its commits; whatever it prints reaches the pusher as
``remote:`` lines. The first push a Space accepts creates its record here (nothing before: a
refused push leaves no Space behind). For a push to ``main`` it records a build, queues it, and (unless the push
said ``-o nowait``) follows the build log and the Space's stage until the Space runs or fails,
then prints the URL or the reason.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

import redis

from core import keys, store
from core.errors import Conflict
from core.queues import build_queue_status, queue_build
from core.replies import StreamIds, entries, stream_reads
from core.repos import DEFAULT_BRANCH, object_problem, space_id_from_git_dir, tree_problems
from core.settings import get_settings
from core.stages import FINAL_STAGES, Stage

ZERO = "0" * 40
QUEUE_NOTE_AFTER = 5.0  # seconds without a log line before saying what the build waits for
QUEUE_NOTE_EVERY = 30.0


def say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def push_options() -> list[str]:
    count = int(os.environ.get("GIT_PUSH_OPTION_COUNT", "0") or 0)
    return [os.environ.get(f"GIT_PUSH_OPTION_{i}", "") for i in range(count)]


def follow(r: redis.Redis, space_id: str, build_id: str, events_from: str, timeout: float) -> int:
    """Print the build log and stage changes until the build's outcome is known. Returns an exit code."""
    settings = get_settings()
    streams: StreamIds = {keys.build_log(build_id): "0-0", keys.space_events(space_id): events_from}
    started = time.monotonic()
    deadline = started + timeout
    next_queue_note = started + QUEUE_NOTE_AFTER
    while time.monotonic() < deadline:
        if time.monotonic() > next_queue_note and streams[keys.build_log(build_id)] == "0-0":
            say(queue_note(r))
            next_queue_note = time.monotonic() + QUEUE_NOTE_EVERY
        for stream, items in stream_reads(r.xread(streams, block=1000, count=200)) or []:
            for entry_id, fields in items:
                streams[stream] = entry_id
                if stream == keys.build_log(build_id):
                    say(fields.get("line", ""))
                    continue
                if fields.get("build") and fields["build"] != build_id:
                    if int(fields["build"]) > int(build_id):
                        say(f"superseded by a newer push (build #{fields['build']}); not waiting for it")
                        return 0
                    continue  # an older build's deploy (a restart of the serving version) going on meanwhile
                stage = Stage(fields["stage"])
                if stage in FINAL_STAGES:
                    return report(r, space_id, stage, fields.get("message", ""), settings)
    say(f"still building after {timeout:.0f} s; follow it at /api/spaces/{space_id}/logs/build")
    return 0


def queue_note(r: redis.Redis) -> str:
    """What a build that has not started is waiting for."""
    queued, workers = build_queue_status(r)
    if workers == 0:
        return "waiting: no builder worker is running, so the build cannot start (the platform's admin must start one)"
    return f"waiting in the build queue: {queued} build(s) queued, {workers} builder worker(s)"


def report(r: redis.Redis, space_id: str, stage: Stage, message: str, settings) -> int:
    space = store.get_space(r, space_id)
    url = settings.public_url(settings.space_host(space.subdomain if space is not None else "")) + "/"
    say("")
    if stage == Stage.RUNNING:
        say(f"Your Space is running at {url}")
        return 0
    say(f"error: {stage.value}")
    for line in message.splitlines():
        say(f"  {line}")
    if not stage.is_error:
        say(f"The Space is {stage.value.lower()}; it answers at {url}")
    return 1


def pre_receive(updates: list[list[str]]) -> int:
    """Refuse (exit 1) a push whose tree breaks the limits; nothing of it is stored then."""
    refused = False
    for _, new, ref in updates:
        if new == ZERO:
            continue
        problem = object_problem(new, ref)
        if problem is not None:
            say(f"error: {problem}")
            refused = True
            continue
        for problem in tree_problems(new):
            say(f"error: {ref}: {problem}")
            refused = True
    if refused:
        say("the push was refused; nothing was stored")
    return 1 if refused else 0


def main() -> int:
    hook = sys.argv[1] if len(sys.argv) > 1 else "post-receive"
    updates = [line.split() for line in sys.stdin if line.strip()]
    if hook == "pre-receive":
        return pre_receive(updates)
    return post_receive(updates)


def ensure_space(r: redis.Redis, space_id: str) -> None:
    """Create the Space's record on its first accepted push (the controller authorized the pusher)."""
    if store.get_space(r, space_id) is not None:
        return
    with contextlib.suppress(Conflict):  # made meanwhile, by a concurrent push or the API
        store.create_space(r, space_id)


def post_receive(updates: list[list[str]]) -> int:
    settings = get_settings()
    r = store.get_redis()
    space_id = space_id_from_git_dir(Path(os.environ.get("GIT_DIR", ".")))
    if any(new != ZERO for _, new, _ in updates):
        ensure_space(r, space_id)
    main_ref = f"refs/heads/{DEFAULT_BRANCH}"
    commits = [new for old, new, ref in updates if ref == main_ref and new != ZERO]
    others = [ref for _, new, ref in updates if ref != main_ref]
    for ref in others:
        say(f"note: only '{DEFAULT_BRANCH}' is built; {ref} was stored but not deployed")
    if not commits:
        return 0
    commit = commits[-1]
    last_event = entries(r.xrevrange(keys.space_events(space_id), count=1))
    events_from = last_event[0][0] if last_event else "0-0"
    build_id = queue_build(r, space_id, commit)
    say(f"build #{build_id} queued for commit {commit[:12]}")
    if "nowait" in push_options():
        space = store.get_space(r, space_id)
        say(f"not waiting (-o nowait); the Space will be at "
            f"{settings.public_url(settings.space_host(space.subdomain if space is not None else ''))}/")
        return 0
    return follow(r, space_id, build_id, events_from, settings.push_wait_timeout)


if __name__ == "__main__":
    sys.exit(main())
