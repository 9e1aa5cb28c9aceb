"""Reading a Dockerfile the way BuildKit reads it, so that what the builder checks is what it builds.

A port of the parts of moby/buildkit's ``frontend/dockerfile/parser`` that decide which text is an
instruction and which words are its flags: parser directives at the top (``# escape=``,
``# syntax=``), comments, line continuations with the escape character (and comment or blank lines
inside them), case-insensitive instruction names, builder flags (``--from=x``, ``--mount x``,
quoted or not), JSON and shell forms, ``ONBUILD`` and — only where the Docker Engine's own
Dockerfile frontend reads them — heredocs, whose bodies are not instructions.

No maintained Python parser does this (``dockerfile-parse`` reads neither heredocs nor builder
flags). To leave no room between this reading and BuildKit's, :mod:`builder.docker_bases` hands
BuildKit a *canonical* Dockerfile made from :class:`Instruction.text`: one instruction per line,
no comments, no continuations, no ``# syntax``. Whatever a BuildKit version makes of odd
continuations, it can only read those lines as they were checked. Anything this module cannot
read the one way is a :class:`DockerfileError` naming the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# Go's unicode.IsSpace: what BuildKit trims and splits on.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_TOKEN_WS = re.compile(r"[\t\v\f\r ]+")  # splitCommand's and reWhitespace's (ASCII only)
_RE2_SPACE = "\t\n\f\r "  # what \s means in Go's regular expressions
_DIRECTIVE = re.compile(r"#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=(.*)\Z", re.S)  # value stripped after
_DIRECTIVES = {"escape", "syntax", "check"}
_HEREDOC_WORD = re.compile(r"(\d*)<<(-?)(['\"]?)([A-Za-z0-9_.-]+)\3\Z", re.ASCII)
_HEREDOC_HINT = re.compile(r"(?:^|[" + GO_SPACE + r"])\d*<<-?['\"]?[A-Za-z0-9_.]", re.ASCII)
HEREDOC_COMMANDS = frozenset({"run", "copy", "add"})
COMMANDS = frozenset({
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
    "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
})


class DockerfileError(ValueError):
    """The Dockerfile cannot be read unambiguously; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"Dockerfile line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Flag:
    name: str  # lowercased, without the leading "--"
    value: str | None  # None: written without "="

    def __str__(self) -> str:
        return f"--{self.name}" if self.value is None else f"--{self.name}={self.value}"


@dataclass(frozen=True)
class Command:
    """One instruction's words: ``ONBUILD COPY --from=x a b`` is onbuild with ``inner`` copy."""

    name: str  # lowercased
    flags: tuple[Flag, ...]
    args: str  # after the flags, trimmed
    inner: Command | None = None

    @property
    def json_args(self) -> list[str] | None:
        """The arguments in JSON form, as BuildKit's parseJSON reads them, or None."""
        rest = self.args.lstrip(GO_SPACE)
        if not rest.startswith("["):
            return None
        try:
            value = json.loads(rest)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None

    @property
    def words(self) -> list[str]:
        """The arguments split on whitespace (parseStringsWhitespaceDelimited)."""
        return [w for w in _TOKEN_WS.split(self.args) if w] if self.args else []


@dataclass(frozen=True)
class Instruction:
    line: int  # where it starts in the user's file
    text: str  # the whole logical line, continuations joined: what BuildKit parses
    command: Command
    body: tuple[str, ...] = field(default=())  # heredoc bodies and terminators, verbatim


@dataclass(frozen=True)
class Parsed:
    escape: str
    syntax: tuple[int, str] | None  # the line and value of a "# syntax=" directive
    instructions: tuple[Instruction, ...]


def go_strip(text: str) -> str:
    return text.strip(GO_SPACE)


def _continuation(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|\A{e}[ \t]*\Z")


def _is_comment(raw: str) -> bool:
    return raw.lstrip(GO_SPACE).startswith("#")


class _Directives:
    def __init__(self) -> None:
        self.escape = "\\"
        self.syntax: tuple[int, str] | None = None
        self.done = False
        self.seen: set[str] = set()

    def feed(self, text: str, lineno: int) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(text)
        key = match.group(1).lower() if match else ""
        value = match.group(2).strip(_RE2_SPACE) if match else ""
        if key not in _DIRECTIVES or not value:
            self.done = True
            return
        if key in self.seen:
            raise DockerfileError(lineno, f"only one '{key}' parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(lineno, f"invalid escape character {value!r}: use \\ or `")
            self.escape = value
        elif key == "syntax":
            self.syntax = (lineno, value)


def parse(text: str, *, heredocs: bool) -> Parsed:
    """Read ``text`` as BuildKit's parser does; ``heredocs``: whether the builder reads them."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if lines:
        lines[0] = lines[0].removeprefix("\ufeff")
    directives = _Directives()
    instructions: list[Instruction] = []
    i = 0
    while i < len(lines):
        lineno = i + 1
        first = lines[i].lstrip(GO_SPACE)
        i += 1
        directives.feed(first, lineno)
        cont = _continuation(directives.escape)
        logical, ended = _trim_continuation("" if first.startswith("#") else first, cont)
        if ended and logical == "":
            continue
        while not ended and i < len(lines):
            raw = lines[i]
            i += 1
            if _is_comment(raw) or raw.strip(GO_SPACE) == "":
                continue
            piece, ended = _trim_continuation(raw, cont)
            logical += piece
        instruction_text = go_strip(logical)
        command = split_command(instruction_text, lineno)
        body: tuple[str, ...] = ()
        if heredocs:
            names = heredoc_names(instruction_text, command, lineno)
            body, i = _read_bodies(lines, i, names, lineno)
        elif _looks_like_heredoc(command):
            raise DockerfileError(lineno, "this host's Docker Engine does not read heredocs (<<EOF); "
                                          "write the commands with && or put them in a script file")
        instructions.append(Instruction(lineno, instruction_text, command, body))
    return Parsed(directives.escape, directives.syntax, tuple(instructions))


def _trim_continuation(line: str, cont: re.Pattern[str]) -> tuple[str, bool]:
    if cont.search(line):
        return cont.sub(r"\1", line, count=1), False
    return line, True


def split_command(line: str, lineno: int) -> Command:
    """splitCommand + extractBuilderFlags + BFlags; ONBUILD's sub-instruction is split the same way."""
    parts = _TOKEN_WS.split(go_strip(line), maxsplit=1)
    word = parts[0]
    if not word.isascii() or word.lower() not in COMMANDS:
        raise DockerfileError(lineno, f"unknown instruction {word[:40]!r}")
    name = word.lower()
    rest, flag_words = extract_flags(parts[1], lineno) if len(parts) == 2 else ("", [])
    flags = tuple(_flag(w, lineno) for w in flag_words)
    args = go_strip(rest)
    inner = None
    if name == "onbuild":
        if not args:
            raise DockerfileError(lineno, "ONBUILD needs an instruction")
        inner = split_command(args, lineno)
    return Command(name, flags, args, inner)


def _flag(word: str, lineno: int) -> Flag:
    if not word.startswith("--"):
        raise DockerfileError(lineno, f"cannot read the flag {word[:60]!r}")
    name, sep, value = word[2:].partition("=")
    return Flag(name.lower(), value if sep else None)


def extract_flags(line: str, lineno: int) -> tuple[str, list[str]]:
    """BuildKit's extractBuilderFlags: the leading ``--`` words, then the rest of the line."""
    words: list[str] = []
    word: list[str] = []
    phase, quote, blank_ok = "spaces", "", False
    parsing_arg, need_arg = False, True
    pos, n = 0, len(line)

    def done(rest_at: int) -> tuple[str, list[str]]:
        if not line[:rest_at].isascii():
            raise DockerfileError(lineno, "non-ASCII characters among an instruction's flags")
        return line[rest_at:], words

    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch in GO_SPACE:
                pos += 1
                continue
            if not parsing_arg and (ch != "-" or pos + 1 == n or line[pos + 1] != "-"):
                return done(pos)
            phase = "word"
        if pos == n:  # in a word or a quote
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if phase == "word":
            if ch in GO_SPACE:
                phase, text = "spaces", "".join(word)
                if parsing_arg:
                    words[-1] += "=" + text
                    parsing_arg, need_arg = False, True
                else:
                    if text == "--":
                        return done(pos)
                    if blank_ok or text:
                        parsing_arg = parsing_arg or need_arg
                        words.append(text)
                word, blank_ok = [], False
                pos += 1
                continue
            if ch == "=" and need_arg:
                need_arg = False
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # in a quote
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return done(n)


def _heredoc_capable(command: Command) -> bool:
    target = command.inner if command.name == "onbuild" and command.inner else command
    return target.name in HEREDOC_COMMANDS


def _looks_like_heredoc(command: Command) -> bool:
    target = command.inner or command
    return _heredoc_capable(command) and target.json_args is None and bool(_HEREDOC_HINT.search(target.args))


def heredoc_names(text: str, command: Command, lineno: int) -> list[tuple[str, bool]]:
    """The heredocs an instruction opens, as (terminator, strip leading tabs), in order.

    Only the plain forms ``<<NAME``, ``<<-NAME``, ``<<'NAME'`` and ``<<"NAME"`` as words of their
    own are read; any other ``<<`` in a RUN, COPY or ADD line is refused rather than guessed at,
    since BuildKit's shell lexer decides what the following lines are.
    """
    if not _heredoc_capable(command) or "<<" not in text:
        return []
    target = command.inner or command
    found = []
    for word in shell_words(text):
        match = _HEREDOC_WORD.match(word)
        if match:
            found.append((match.group(4), match.group(2) == "-"))
    if text.count("<<") != len(found) or "${" in text:
        raise DockerfileError(lineno, "'<<' in a form that cannot be checked; write heredocs as a word of "
                                      "their own: <<NAME, <<-NAME, <<'NAME' or <<\"NAME\"")
    if target.args.lstrip(GO_SPACE).startswith("["):
        raise DockerfileError(lineno, "'<<' in an instruction written in JSON form")
    return found


def shell_words(text: str) -> list[str]:
    """Words as a POSIX-like lexer splits them, quotes and escapes kept in the words."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if quote:
            word.append(ch)
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and pos + 1 < len(text):
                pos += 1
                word.append(text[pos])
        elif ch in GO_SPACE:
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(ch)
            if ch in "'\"":
                quote = ch
            elif ch == "\\" and pos + 1 < len(text):
                pos += 1
                word.append(text[pos])
        pos += 1
    if word:
        words.append("".join(word))
    return words


def _read_bodies(lines: list[str], i: int, names: list[tuple[str, bool]], lineno: int) -> tuple[tuple[str, ...], int]:
    body: list[str] = []
    for name, chomp in names:
        while True:
            if i >= len(lines):
                raise DockerfileError(lineno, f"the heredoc <<{name} is never closed (a line '{name}' ends it)")
            line = lines[i]
            i += 1
            body.append(line)
            if (line.lstrip("\t") if chomp else line) == name:
                break
    return tuple(body), i
