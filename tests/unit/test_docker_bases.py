"""A Docker Space's Dockerfile reaches only the public-base stand-ins and its own earlier stages.

Each refused case is a route some Dockerfile syntax opens to another image in the host's Docker
(another Space's private image, a dependency image, a frontend image) or out of the build
container; each allowed case is a Dockerfile that Hugging Face Spaces build and that must keep
building here. ``map_bases`` output is what BuildKit gets, so it is checked too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder import base_images, docker_bases
from builder.docker_bases import CACHE_SCOPE_ARG, build_args, map_bases
from builder.dockerfile_syntax import DockerfileError, extract_flags, parse
from core.errors import BuildFailed

VICTIM = "spaces-app/alice.vault:0123456789ab"


@pytest.fixture(autouse=True)
def no_docker(monkeypatch):
    """The stand-ins exist (building them is base_images' business, not this test's)."""
    monkeypatch.setattr(base_images, "ensure_python", lambda settings, emit: base_images.PYTHON_IMAGE)
    monkeypatch.setattr(base_images, "ensure_root", lambda settings, emit: "spaces-root:bookworm")


def build(text: str, *, heredocs: bool = False) -> tuple[str, list[str]]:
    notes: list[str] = []
    return map_bases(text, notes.append, heredocs=heredocs), notes


def refused(text: str, *, heredocs: bool = False) -> str:
    with pytest.raises(BuildFailed) as info:
        build(text, heredocs=heredocs)
    return info.value.message


# --- what keeps building --------------------------------------------------------------------


def test_the_example_docker_space_maps_its_base_and_keeps_every_step():
    text = Path("examples/hello-docker/Dockerfile").read_text()
    out, notes = build(text)
    lines = out.splitlines()
    assert lines[0] == "FROM spaces-python-slim:3.11" and lines[1] == f"ARG {CACHE_SCOPE_ARG}"
    assert "COPY --chown=user . $HOME/app" in lines and 'CMD ["python", "server.py"]' in lines
    assert notes == ["--> FROM python:3.11-slim → spaces-python-slim:3.11 (no registry here; Debian's Python 3.11 built locally)"]


def test_multi_stage_build_copies_and_mounts_from_earlier_stages_by_name_or_number():
    text = (
        "FROM python:3.11-slim AS Builder\n"
        "RUN pip wheel --wheel-dir /wheels humanize\n"
        "FROM debian:bookworm-slim as runtime\n"
        "COPY --from=builder /wheels /wheels\n"
        "COPY --from=0 /wheels /again\n"
        "RUN --mount=type=bind,from=BUILDER,source=/wheels,target=/mnt ls /mnt\n"
        "RUN --mount=type=cache,target=/root/.cache/pip --mount=type=secret,id=TOKEN,required=true true\n"
        "FROM runtime\n"
        "COPY --from=runtime /wheels /w\n"
        "COPY --from=1 /wheels /w1\n"
    )
    out, _ = build(text)
    lines = out.splitlines()
    assert lines[0] == "FROM spaces-python-slim:3.11 AS builder"
    assert "FROM spaces-root:bookworm AS runtime" in lines
    assert "FROM runtime" in lines  # a stage, not an image
    assert "COPY --from=builder /wheels /wheels" in lines


def test_continuations_comments_and_lowercase_instructions_are_read_as_buildkit_does():
    text = (
        "# a comment\n"
        "from python:3.11 \\\n"
        "  # a comment inside the instruction\n"
        "\n"
        "  as base\n"
        "run apt-get update && \\\n"
        "    echo done\n"
        "copy [\"app.py\", \"/app/\"]\n"
    )
    out, _ = build(text)
    assert out.splitlines() == [
        "FROM spaces-python-slim:3.11 AS base", f"ARG {CACHE_SCOPE_ARG}",
        "run apt-get update &&     echo done", 'copy ["app.py", "/app/"]',
    ]


def test_escape_directive_is_kept_and_its_character_continues_lines():
    out, _ = build("# escape=`\nFROM python:3.11-slim\nRUN echo a `\n  b\nCOPY C:\\src\\ /dst\n")
    assert out.splitlines() == ["# escape=`", "FROM spaces-python-slim:3.11", f"ARG {CACHE_SCOPE_ARG}",
                                "RUN echo a   b", "COPY C:\\src\\ /dst"]


def test_the_official_syntax_directive_is_dropped_with_a_note():
    out, notes = build("# syntax=docker/dockerfile:1.4\nFROM python:3.11\n")
    assert "syntax" not in out
    assert any("'# syntax=docker/dockerfile:1.4' ignored" in note for note in notes)


def test_scratch_and_the_stand_ins_by_name_are_allowed():
    out, _ = build("FROM spaces-python-slim:3.11 AS a\nFROM spaces-root:bookworm\nFROM scratch\nCOPY --from=a /x /x\n")
    assert "FROM spaces-python-slim:3.11 AS a" in out and "FROM spaces-root:bookworm" in out and "FROM scratch" in out


def test_heredoc_bodies_are_not_instructions_where_the_engine_reads_heredocs():
    text = "FROM python:3.11\nRUN <<EOF\nFROM spaces-app/x:1\nCOPY --from=victim / /\nEOF\nCOPY <<-'CONF' /etc/x.conf\n\tfrom = 1\n\tCONF\n"
    out, _ = build(text, heredocs=True)
    assert "RUN <<EOF\nFROM spaces-app/x:1\nCOPY --from=victim / /\nEOF\nCOPY <<-'CONF' /etc/x.conf\n\tfrom = 1\n\tCONF\n" in out


def test_canonical_output_reads_back_as_the_same_instructions():
    text = "FROM python:3.11-slim AS b\nRUN a \\\n b\nFROM b\nCOPY --from=b \\\n /x /y\nENV A=1 \\\n  B=2\n"
    out, _ = build(text)
    again = parse(out, heredocs=False).instructions
    first = parse(text, heredocs=False).instructions
    assert [i.text for i in again if i.command.name not in ("arg", "from")] == [i.text for i in first if i.command.name != "from"]
    assert [i.text for i in again if i.command.name == "from"] == ["FROM spaces-python-slim:3.11 AS b", "FROM b"]


# --- what is refused -----------------------------------------------------------------------


@pytest.mark.parametrize("image", [
    VICTIM, "spaces-deps:0123abcd", "spaces-gradio:6.31.0", "spaces-static-server:1",
    f"docker.io/{VICTIM}", "docker.io/library/spaces-deps:1", "SPACES-APP/x:1",
    "sha256:" + "a" * 64, "a" * 64,
])
def test_from_a_platform_image_is_refused(image):
    message = refused(f"FROM {image}\n")
    assert message.startswith("Dockerfile line 1:") and image in message
    assert "available: python:3.11" in message


def test_from_an_unavailable_public_image_lists_what_is_available():
    message = refused("FROM python:3.11\nFROM ubuntu:22.04\n")
    assert message.startswith("Dockerfile line 2: base image ubuntu:22.04 cannot be had here")
    assert "spaces-python-slim:3.11" in message and "earlier stages" in message


@pytest.mark.parametrize("line", ["FROM $BASE", "FROM ${BASE}", "FROM python:${V}", "FROM ${BASE:-python:3.11}"])
def test_a_base_given_by_a_build_argument_is_refused(line):
    assert "given by a build argument" in refused(f"ARG BASE=python:3.11\n{line}\n")


@pytest.mark.parametrize("copy", [
    f"COPY --from={VICTIM} /home/user/app /leak",
    f'COPY --from="{VICTIM}" /a /b',
    f"COPY --from={VICTIM.replace('/', chr(92) + '/')} /a /b",
    f"copy --FROM={VICTIM} /a /b",
    f"COPY --from {VICTIM} /a /b",
    "COPY --from=$IMAGE /a /b",
    "COPY --from=python:3.11-slim /usr/bin/python3 /p",
    "COPY --from=later /a /b",
    "COPY --from=1 /a /b",
    "COPY --from=7 /a /b",
    "COPY --from=+0 /a /b",
    "COPY --chown=1000 --from=nowhere /a /b",
])
def test_copy_from_anything_but_an_earlier_stage_is_refused(copy):
    message = refused(f"FROM python:3.11 AS first\nFROM debian:bookworm\n{copy}\nFROM scratch AS later\n")
    assert message.startswith("Dockerfile line 3:") and "not an earlier stage" in message
    assert "never from an image" in message


@pytest.mark.parametrize("mount", [
    f"type=bind,from={VICTIM},target=/m",
    f"type=cache,target=/c,from={VICTIM}",
    f"type=tmpfs,target=/t,from={VICTIM}",
    f"type=secret,id=X,from={VICTIM}",
    f"from={VICTIM},target=/m",
    f"type=bind,FROM={VICTIM},target=/m",
    f'type=bind,"from={VICTIM}",target=/m',
    "type=bind,from=spaces-deps:1,target=/m",
])
def test_run_mount_from_an_image_is_refused_for_every_mount_type(mount):
    for form in (f"--mount={mount}", f"--mount {mount}", f"--mount='{mount}'"):
        message = refused(f"FROM python:3.11\nRUN {form} cat /m/app.py\n")
        assert message.startswith("Dockerfile line 2:") and "not an earlier stage" in message, form


@pytest.mark.parametrize("value", ["spaces-app/x:1", "evil/frontend:1", "docker/dockerfile-upstream:master", "spaces-deps:1"])
def test_a_syntax_directive_naming_a_frontend_image_is_refused(value):
    for line in (f"# syntax={value}", f"#syntax = {value}", f"# SYNTAX={value}", f"\ufeff# syntax={value}"):
        message = refused(f"{line}\nFROM python:3.11\n")
        assert message.startswith("Dockerfile line 1:") and "frontend" in message, line


def test_a_syntax_directive_after_the_escape_directive_is_still_read():
    assert "frontend" in refused("# escape=`\n# syntax=evil/frontend\nFROM python:3.11\n")


@pytest.mark.parametrize("onbuild", [
    "ONBUILD COPY --from=first /a /b",
    f"ONBUILD COPY --from={VICTIM} /a /b",
    f"onbuild RUN --mount=type=bind,from={VICTIM},target=/m true",
    "ONBUILD ADD http://127.0.0.1:6379/ /x",
    "ONBUILD FROM python:3.11",
    "ONBUILD ONBUILD RUN true",
])
def test_onbuild_forms_are_refused(onbuild):
    message = refused(f"FROM python:3.11 AS first\n{onbuild}\n")
    assert message.startswith("Dockerfile line 2:") and "ONBUILD" in message


@pytest.mark.parametrize("text,line", [
    (f"FROM python:3.11\nRUN echo hi \\\n  && true\nCOPY \\\n  --from={VICTIM} \\\n  /a /b\n", 4),
    (f"FROM python:3.11\nCOPY \\\n# a comment line\n\n--from={VICTIM} /a /b\n", 2),
    (f"FROM python:3.11\n   cOpY   --from={VICTIM} /a /b\n", 2),
    (f"# escape=`\nFROM python:3.11\nRUN echo \\\nCOPY --from={VICTIM} /a /b\n", 4),
    (f"FROM python:3.11\nFROM \\\n {VICTIM}\n", 2),
])
def test_instructions_hidden_by_line_syntax_are_found(text, line):
    assert refused(text).startswith(f"Dockerfile line {line}:")


def test_heredoc_bodies_are_instructions_where_the_engine_does_not_read_heredocs():
    message = refused(f"FROM python:3.11\nRUN <<EOF\nCOPY --from={VICTIM} / /\nEOF\n")
    assert message.startswith("Dockerfile line 2:") and "does not read heredocs" in message


def test_what_follows_a_heredoc_is_checked_and_odd_heredocs_are_refused():
    assert refused(f"FROM python:3.11\nRUN <<EOF\ntrue\nEOF\nFROM {VICTIM}\n", heredocs=True).startswith("Dockerfile line 5:")
    assert "never closed" in refused("FROM python:3.11\nRUN <<EOF\ntrue\n", heredocs=True)
    assert "cannot be checked" in refused('FROM python:3.11\nRUN echo "<<EOF"\nFROM spaces-deps:1\n', heredocs=True)
    assert "cannot be checked" in refused("FROM python:3.11\nRUN cat <<${X}\nx\n", heredocs=True)


def test_an_escaped_escape_at_the_end_of_a_line_is_refused_as_ambiguous():
    # BuildKit before 0.13 continues this line onto the next; later versions do not.
    message = refused(f"FROM python:3.11\nRUN echo \\\\\nFROM {VICTIM}\n")
    assert message.startswith("Dockerfile line 2:") or message.startswith("Dockerfile line 3:")


@pytest.mark.parametrize("add", [
    "ADD http://127.0.0.1:6379/ /x",
    "ADD HTTPS://example.org/a.tar.gz /x",
    "ADD --checksum=sha256:00 https://example.org/a /x",
    'ADD ["http://127.0.0.1:8099/api/rawdata", "/x"]',
    "ADD git@github.com:owner/repo.git /src",
    "ADD ht\\tp://127.0.0.1/ /x",
    "ADD $URL /x",
    "ADD --from=first /a /b",
])
def test_add_of_a_url_a_repository_or_an_image_is_refused(add):
    message = refused(f"FROM python:3.11 AS first\n{add}\n")
    assert message.startswith("Dockerfile line 2:") and "ADD" in message


@pytest.mark.parametrize("run", ["RUN --network=host curl 127.0.0.1:6379", "RUN --security=insecure true",
                                 "RUN --privileged true", "COPY --link=true --platform=x a b"])
def test_flags_that_leave_the_build_sandbox_or_are_unknown_are_refused(run):
    assert refused(f"FROM python:3.11\n{run}\n").startswith("Dockerfile line 2:")


@pytest.mark.parametrize("text", [
    "FROM python:3.11\nCOPY --chown=1000\u0160--from=victim a b\n",  # a byte BuildKit splits words at
    "FROM python:3.11\nFETCH http://x /y\n",
    "FROM python:3.11 AS a\nFROM python:3.11 AS a\n",
    "FROM python:3.11 AS 1st\n",
    "FROM python:3.11 extra words\n",
    "# no instructions\n",
    "# escape=x\nFROM python:3.11\n",
])
def test_unreadable_or_invalid_dockerfiles_are_refused(text):
    assert refused(text)


def test_extract_flags_matches_buildkit():
    assert extract_flags("--from=a --chown=1 src dst", 1) == ("src dst", ["--from=a", "--chown=1"])
    assert extract_flags("--mount type=bind,from=x echo", 1) == ("echo", ["--mount=type=bind,from=x"])
    assert extract_flags('--from="a b" x', 1) == ("x", ["--from=a b"])
    assert extract_flags("-- --from=x", 1) == (" --from=x", [])
    assert extract_flags("echo --from=x", 1) == ("echo --from=x", [])
    with pytest.raises(DockerfileError):
        extract_flags("--from=a\u00a0--from=b x", 1)


# --- build arguments ---------------------------------------------------------------------------


def test_buildkit_settings_never_come_from_a_spaces_variables():
    notes: list[str] = []
    args = build_args({"BUILDKIT_SYNTAX": VICTIM, "buildkit_cache_mount_ns": "x", "BUILDKIT_CACHE_MOUNT_NS": "x",
                       CACHE_SCOPE_ARG: "other/space", "FLAVOUR": "lemon"}, "alice/app", notes.append)
    assert "BUILDKIT_SYNTAX" not in args and "buildkit_cache_mount_ns" not in args
    assert args["FLAVOUR"] == "lemon" and args[CACHE_SCOPE_ARG] == "alice/app"
    assert args["BUILDKIT_CACHE_MOUNT_NS"] != "x"
    assert "BUILDKIT_SYNTAX" in notes[0]


def test_each_space_gets_its_own_cache_mount_namespace():
    a = build_args({}, "alice/app", print)["BUILDKIT_CACHE_MOUNT_NS"]
    assert a == build_args({}, "alice/app", print)["BUILDKIT_CACHE_MOUNT_NS"]
    assert a != build_args({}, "bob/app", print)["BUILDKIT_CACHE_MOUNT_NS"]
    assert "/" not in a


def test_registry_mode_keeps_public_images_but_not_the_platforms(monkeypatch):
    class Settings:
        base_image = "registry.example.org/python:3.11-slim"
        debian_suite = "bookworm"

    monkeypatch.setattr(docker_bases, "get_settings", lambda: Settings())
    monkeypatch.setattr(base_images, "ensure_root", lambda settings, emit: Settings.base_image)
    assert build("FROM python:3.12\n")[0].startswith("FROM python:3.12\n")
    assert build("FROM registry.example.org/x:1\n")[0].startswith("FROM registry.example.org/x:1\n")
    assert "platform's own images" in refused(f"FROM {VICTIM}\n")
    assert "images come from" in refused("FROM 127.0.0.1:5000/x:1\n")
    assert "images come from" in refused("FROM localhost/x:1\n")


@pytest.mark.parametrize("line", ["RUN cat \u0663<<EOF", "RUN [\"sh\", \"-c\", \"cat\"] <<EOF", "RUN cat <<E\"O\"F", "RUN cat <<<EOF"])
def test_heredoc_openers_buildkit_might_read_otherwise_are_refused(line):
    message = refused(f"FROM python:3.11\n{line}\nFROM {VICTIM}\nEOF\n", heredocs=True)
    assert message.startswith("Dockerfile line 2:") and "'<<'" in message
