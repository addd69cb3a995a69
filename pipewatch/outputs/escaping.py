"""Making untrusted text safe for each place it is shown: the one home of pipewatch's sanitizers.

dbt messages, node names, check samples and server answers quote warehouse data, and anyone who can
write a row can put bytes in them. On a terminal an escape sequence is an instruction: OSC 52 writes
the clipboard, OSC 0 retitles the window, DCS talks to the terminal itself, and the 8-bit C1 bytes
(0x80-0x9f) do the same without an ESC. So terminal text loses every control sequence and control
character (`terminal_safe`); each document format escapes what its own syntax gives meaning to:
Markdown (`md_cell`, `md_code`), Slack mrkdwn (`slack_escape`), GitHub workflow commands
(`gh_data`, `gh_property`), XML 1.0 (`xml_text`). HTML is escaped by the report's Jinja templates
(autoescape on), which also make a page where control characters are inert.
"""

from __future__ import annotations

import re

# ESC-introduced sequences, in the order a terminal parses them (ECMA-48):
# - string commands (OSC `]`, DCS `P`, SOS `X`, PM `^`, APC `_`) run to BEL or ST (`ESC \`); an
#   unterminated one loses only its introducer, so the rest stays readable as plain text;
# - CSI `[` parameters, intermediates, final byte;
# - any other escape: intermediates then one final byte (`ESC c` resets the terminal).
_ESC_STRING = re.compile(r"\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)")
_C1_STRING = re.compile(r"[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)")
_CSI = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]")
_ESC_OTHER = re.compile(r"\x1b[ -/]*[0-~]")
# Whatever control character is left: C0 (but tab and newline, which `keep` may widen), DEL, C1.
_CONTROLS = "".join(chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)))
# Everything outside XML 1.0's Char production.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def terminal_safe(text: object, *, keep: str = "\n\t") -> str:
    """`text` with every escape sequence and control character removed (those in `keep` stay).

    For anything printed on a terminal, or into a log a terminal will show (CI logs render escapes).
    """
    out = str(text)
    if not out.isprintable() or "\x1b" in out:
        for pattern in (_ESC_STRING, _C1_STRING, _CSI, _ESC_OTHER):
            out = pattern.sub("", out)
        out = out.translate({ord(c): None for c in _CONTROLS if c not in keep})
    return out


def one_line(text: object) -> str:
    """Terminal-safe text folded to one line: line breaks and tabs become spaces."""
    return " ".join(terminal_safe(text, keep="\n\t").split())


def md_cell(text: object) -> str:
    """Text made literal in Markdown, fit for one table cell: HTML, backticks and pipes escaped, one line."""
    escaped = (
        one_line(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("`", "\\`")
        .replace("|", "\\|")
    )
    return escaped.strip()


def md_code(text: object) -> str:
    """Text as a Markdown code span: a backtick inside cannot close it, a pipe cannot split a table."""
    return "`" + one_line(text).replace("`", "'").replace("|", "\\|") + "`"


def slack_escape(text: object) -> str:
    """Text made literal for Slack mrkdwn: `&`, `<` and `>` are control characters there."""
    return terminal_safe(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def gh_data(text: str) -> str:
    """A GitHub workflow command's message, escaped as actions/toolkit does (`%`, CR, LF).

    The runner prints annotations in a log that renders escape sequences, so those go first.
    """
    safe = terminal_safe(text, keep="\n\t\r")
    return safe.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_property(text: str) -> str:
    """A GitHub workflow command's property value, escaped (`%`, CR, LF, `:`, `,`)."""
    return gh_data(text).replace(":", "%3A").replace(",", "%2C")


def xml_text(value: object) -> str:
    """Text XML 1.0 can hold, with no terminal controls: what XML forbids, escapes, C1 and CR are removed."""
    return _NOT_XML.sub("", terminal_safe(value))
