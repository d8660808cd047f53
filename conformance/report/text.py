"""Text from an implementation under test, made safe for each report format.

Adapter names, exception messages, declared devices, versions and notes are written by the code
under test, so every report treats them as hostile: control characters (ESC, NUL, form feed, bidi
overrides...) are shown as visible ``\\xNN`` escapes -- never passed to a terminal, never written raw
into XML (where most of them make the file ill-formed) --, Markdown cells cannot close a table or
start a heading, and no absolute path of the machine a report was made on reaches a report.

One function per target, each small and pure: ``printable`` (all formats), ``one_line`` (terminal,
attributes), ``md`` / ``md_code`` (Markdown), ``portable`` (paths).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

# Control (Cc), format (Cf: bidi overrides, zero-width), surrogate (Cs), line/paragraph separators.
_HIDDEN = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
_KEEP = frozenset("\n\t")


def _escape_char(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def printable(value: Any, keep_newlines: bool = True) -> str:
    """``str(value)`` with every control/format character as a visible escape (``\\x1b``, ``\\u202e``).

    ANSI/OSC sequences therefore reach no terminal and no XML parser; they read as text. Newlines
    and tabs stay (unless ``keep_newlines`` is false: then they become ``\\n``/``\\t`` escapes too);
    ``\\r`` is always escaped, so nothing can overwrite a line it follows.
    """
    text = "" if value is None else str(value)
    if text.isprintable():  # no control, format, separator or unassigned character: nothing to escape
        return text
    out = []
    for ch in text:
        if ch in _KEEP and keep_newlines:
            out.append(ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif unicodedata.category(ch) in _HIDDEN or ch in "\ufffe\uffff":
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)


def one_line(value: Any, limit: int | None = None) -> str:
    """Printable on one line (newlines as ``\\n``), cut to ``limit`` characters with an ellipsis."""
    text = printable(value, keep_newlines=False)
    return text if limit is None or len(text) <= limit else text[: max(limit - 1, 0)] + "…"


_MD_PUNCT = re.compile(r"([\\`*_\[\]|~#])")


def md(value: Any, limit: int | None = None) -> str:
    """Inline Markdown text (a table cell or a list item) that renders as the literal string.

    ``<``, ``>`` and ``&`` become entities (no raw HTML: GitHub's job summary renders some), the
    characters that open emphasis, links, code, headings or cells are backslash-escaped, and
    newlines become ``<br>`` -- so a message can neither close the table nor add a heading.
    """
    text = printable(value)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_PUNCT.sub(r"\\\1", text)
    return "<br>".join(part.strip("\r") for part in text.split("\n"))


def md_code(value: Any) -> str:
    """A Markdown code span for a command line, safe inside a table row (``|`` escaped)."""
    text = one_line(value)
    ticks = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text.replace('|', chr(92) + '|')}{pad}{ticks}"


def _bases(run_dir: str | os.PathLike[str] | None) -> list[tuple[str, str]]:
    """(absolute prefix, replacement), most specific first: the repo, the working directory, the run."""
    root = Path(__file__).resolve().parents[2]
    pairs = [(str(root), ""), (os.getcwd(), "")]
    if run_dir is not None:
        pairs.append((str(Path(run_dir).resolve()), ""))
        pairs.append((os.path.abspath(run_dir), ""))
    home = os.path.expanduser("~")
    if home not in ("", "/"):
        pairs.append((home, "~/"))
    return sorted({p for p in pairs if p[0] not in ("", "/")}, key=lambda p: -len(p[0]))


_UPWARD = re.compile(r"(?:(?<=^)|(?<=[\s'\"=(]))((?:\.\./)+[^\s'\")]*)")


def portable(value: Any, run_dir: str | os.PathLike[str] | None = None) -> str:
    """Absolute paths under the repository or working directory made relative to it; under the
    run directory, relative to the run directory; under the home directory, ``~/...``. Only
    absolute paths are touched (a prefix at the start of the text or after a space, quote or ``=``),
    and ``../..`` paths that climb out of the working directory into the run directory."""
    text = "" if value is None else str(value)
    if run_dir is not None:
        run = os.path.abspath(run_dir)

        def into_run(m: re.Match[str]) -> str:
            target = os.path.abspath(m.group(1))
            return os.path.relpath(target, run) if target == run or target.startswith(run + os.sep) else m.group(1)

        text = _UPWARD.sub(into_run, text)
    for prefix, repl in _bases(run_dir):
        text = re.sub(r"(^|(?<=[\s'\"=(]))" + re.escape(prefix) + r"(/|(?=$|[\s'\")]))",
                      lambda m, r=repl: r if m.group(2) == "/" else (r or "."), text)
    return text


def portable_path(value: Any, run_dir: str | os.PathLike[str] | None = None) -> str:
    """A path field (the baseline file, an option): ``portable``, and a path outside the repository,
    working and run directories (absolute, or climbing out with ``../``) shown as ``…/NAME``."""
    text = portable(value, run_dir)
    outside = os.path.isabs(text) or text.startswith(".." + os.sep)
    return f"…/{os.path.basename(text)}" if outside else text
