"""``run-agent --help``, ``-h`` and a bare ``run-agent`` without click.

Importing click takes most of what printing the group's help costs, so this module prints
it from ``cli.group_help`` (which the click group reads too), laid out as click lays it
out: its HelpFormatter's width rule, usage line, wrapped paragraphs and definition lists,
and its short-help rule for the command summaries. ``try_help`` returns None for anything
else, and for whatever could make click print something different (``python -m``, a
shell-completion request, a translation catalog, text that is not plain ASCII); the
click group handles those. tests/integration/test_cli_fast_help.py compares the two
byte for byte. Nothing here may import click.
"""

from __future__ import annotations

import os
import sys

from conductor_loop.cli.group_help import (
    GROUP_HELP,
    HELP_OPTION_NAMES,
    OPTIONS,
    SUMMARIES,
    USAGE_ARGS,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: start-up
if TYPE_CHECKING:
    from textwrap import TextWrapper

# click's HelpFormatter: indent step, content width cap, definition-list columns.
_INDENT = 2
_MAX_WIDTH = 80
_COL_MAX = 30
_COL_SPACING = 2
_USAGE = "Usage: "

EXIT_USAGE = 2  # click's status for a bare group call (it prints the help to stderr)


def try_help(args: list[str]) -> int | None:
    """Print the group's help for command-line ``args`` (without the program name) as
    click would and return the exit status; None, having printed nothing, otherwise."""
    if os.name == "nt" or len(args) > 1 or (args and args[0] not in HELP_OPTION_NAMES):
        return None
    prog = _program_name()
    if prog is None or _completion_requested(prog) or _translated():
        return None
    stream = sys.stdout if args else sys.stderr
    if stream is None:
        return None
    text = render(prog, _width())
    if not text.isascii():
        return None  # click's echo may re-encode other text; ASCII is the same bytes anywhere
    if not args:  # click: NoArgsIsHelpError, the help on stderr and a usage error's status
        stream.write(text + "\n")
        stream.flush()
        return EXIT_USAGE
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:  # as click: say nothing more, status 1
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
        return 1
    return 0


def _program_name() -> str | None:
    """click's program name for a script (the basename of argv[0]); None for
    ``python -m``, which click names differently, and for a name that is not plain text."""
    main = sys.modules.get("__main__")
    if getattr(main, "__package__", None) not in (None, ""):
        return None
    name = os.path.basename(sys.argv[0])
    return name if name.isascii() and name.isprintable() else None


def _completion_requested(prog: str) -> bool:
    """Whether click would do shell completion instead (``_RUN_AGENT_COMPLETE`` set)."""
    name = prog.replace("-", "_").replace(".", "_")
    return bool(os.environ.get(f"_{name}_COMPLETE".upper()))


def _translated() -> bool:
    """Whether click's own words ("Usage:", "Options", ...) could come out translated:
    gettext finds a "messages" catalog for the user's language in its default directory."""
    localedir = os.path.join(sys.base_prefix, "share", "locale")  # gettext's default
    if not os.path.isdir(localedir):
        return False
    import gettext

    return gettext.find("messages", localedir) is not None


def _width() -> int:
    """click's HelpFormatter width: the terminal's columns, at most 80, less 2, at least 50.
    The columns are ``shutil.get_terminal_size``'s: a positive $COLUMNS, else the size of
    the terminal on ``sys.__stdout__``, else 80 (shutil itself costs a few ms to import)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout else 80
        except (AttributeError, ValueError, OSError):
            columns = 80
        columns = columns or 80
    return max(min(columns, _MAX_WIDTH) - 2, 50)


def render(prog: str, width: int) -> str:
    """The group's help as click's ``Context.get_help`` gives it at formatter ``width``."""
    out: list[str] = []
    prefix = f"{_USAGE}{prog} "
    if width >= len(prefix) + 20:
        out.append(_fill(USAGE_ARGS, width, prefix, " " * len(prefix)))
    else:  # the arguments go on the next line
        indent = " " * (len(_USAGE) + 4)
        out += [prefix, "\n", _fill(USAGE_ARGS, width, indent, indent)]
    out.append("\n")
    out += ["\n", _paragraphs(GROUP_HELP, width, " " * _INDENT), "\n"]
    out += ["\n", "Options:\n", _definitions(OPTIONS, width)]
    names = sorted(SUMMARIES)
    limit = width - 6 - max(len(name) for name in names)
    rows = [(name, _short_help(SUMMARIES[name], limit)) for name in names]
    out += ["\n", "Commands:\n", _definitions(rows, width)]
    return "".join(out).rstrip("\n")


def _definitions(rows: list[tuple[str, str]] | tuple[tuple[str, str], ...], width: int) -> str:
    """click's ``HelpFormatter.write_dl`` inside a section (indented by one step)."""
    first_col = min(max(len(first) for first, _ in rows), _COL_MAX) + _COL_SPACING
    text_width = max(width - first_col - 2, 10)
    hang = " " * (first_col + _INDENT)
    out: list[str] = []
    for first, second in rows:
        out.append(" " * _INDENT + first)
        if not second:
            out.append("\n")
            continue
        if len(first) <= first_col - _COL_SPACING:
            out.append(" " * (first_col - len(first)))
        else:
            out += ["\n", hang]
        lines = _paragraphs(second, text_width, "").splitlines()
        if not lines:
            out.append("\n")
            continue
        out.append(f"{lines[0]}\n")
        out += [f"{hang}{line}\n" for line in lines[1:]]
    return "".join(out)


_wrapper_class: type[TextWrapper] | None = None


def _wrapper(width: int, initial_indent: str, subsequent_indent: str) -> TextWrapper:
    """click's TextWrapper (``click._textwrap``) for plain text: a word longer than the
    line is cut at the line's end, never at a hyphen. textwrap is imported only here."""
    global _wrapper_class
    if _wrapper_class is None:
        import textwrap

        class Wrapper(textwrap.TextWrapper):
            def _handle_long_word(
                self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
            ) -> None:
                space_left = max(width - cur_len, 1)
                if self.break_long_words:
                    last = reversed_chunks[-1]
                    cur_line.append(last[:space_left])
                    reversed_chunks[-1] = last[space_left:]
                elif not cur_line:
                    cur_line.append(reversed_chunks.pop())

        _wrapper_class = Wrapper
    return _wrapper_class(
        width,
        initial_indent=initial_indent,
        subsequent_indent=subsequent_indent,
        replace_whitespace=False,
    )


def _fill(text: str, width: int, initial_indent: str, subsequent_indent: str) -> str:
    """click's ``wrap_text`` of one paragraph."""
    return _wrapper(width, initial_indent, subsequent_indent).fill(text.expandtabs())


def _paragraphs(text: str, width: int, indent: str) -> str:
    """click's ``wrap_text(..., preserve_paragraphs=True)``: each paragraph (lines up to an
    empty one) rewrapped at its first line's indent, a paragraph led by a ``\\b`` line kept
    as it is."""
    paragraphs: list[tuple[int, bool, str]] = []
    buf: list[str] = []
    par_indent: int | None = None

    def flush() -> None:
        if not buf:
            return
        if buf[0].strip() == "\b":
            paragraphs.append((par_indent or 0, True, "\n".join(buf[1:])))
        else:
            paragraphs.append((par_indent or 0, False, " ".join(buf)))
        buf.clear()

    for line in text.expandtabs().splitlines():
        if not line:
            flush()
            par_indent = None
        else:
            if par_indent is None:
                stripped = line.lstrip()
                par_indent = len(line) - len(stripped)
                line = stripped
            buf.append(line)
    flush()

    out = []
    for extra, raw, body in paragraphs:
        lead = indent + " " * extra
        if raw:
            out.append("\n".join(f"{lead}{line}" for line in body.splitlines()))
        else:
            out.append(_wrapper(width, lead, lead).fill(body))
    return "\n\n".join(out)


def _short_help(text: str, limit: int) -> str:
    """click's short help of a command with this help text (``_make_default_short_help``):
    its first sentence, shortened with "..." to ``limit`` characters."""
    words = text.partition("\n\n")[0].split()
    if words and words[0] == "\b":
        words = words[1:]
    if not words:
        return ""
    last = len(words) - 1
    for i, word in enumerate(words):
        if word.endswith(".") and (i == last or not words[i + 1][0].islower()):
            words = words[: i + 1]
            break
    short = " ".join(words)
    if len(short) <= limit:
        return short.strip()
    if limit < len("..."):
        return "..."
    import textwrap

    return textwrap.shorten(short, limit, placeholder="...", break_on_hyphens=False).strip()
