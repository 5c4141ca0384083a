"""Taking secrets out of error text before it is stored or logged.

A platform client's error often quotes the request (a Discord webhook URL carries its token, a
Slack `response_url` is a credential, an `Authorization` header may be echoed), and the admin API
shows every reply's last error.
"""

from __future__ import annotations

import re

_HIDDEN = "…"
_URL = re.compile(r"(?i)\b(?:https?|wss?)://[^\s'\"<>()\[\]{},]+")
_AUTH = re.compile(r"(?i)\b(Bearer|Bot|Basic|OAuth|Token)(\s+|%20)[A-Za-z0-9._~+/=%\-]{6,}")
_NAMED = re.compile(
    r"(?i)\b([a-z_]*(?:token|secret|password|signature|key|code)[a-z_]*)(['\"]?\s*[=:]\s*['\"]?)"
    r"[^\s'\"&,;}]+"
)
_SLACK_TOKEN = re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+")
#: A path segment that looks like a token: long, with letters and digits mixed in.
_SECRET_SEGMENT = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9._~\-]{16,}$")


def scrub(text: str) -> str:
    """`text` with URL credentials, token-like path segments, query values, authorization
    headers and named secrets replaced by `…`; the shape of the message stays readable."""
    text = _URL.sub(lambda match: _scrub_url(match.group(0)), text)
    text = _AUTH.sub(lambda match: f"{match.group(1)}{match.group(2)}{_HIDDEN}", text)
    text = _SLACK_TOKEN.sub("xox" + _HIDDEN, text)
    return _NAMED.sub(lambda match: f"{match.group(1)}{match.group(2)}{_HIDDEN}", text)


def _scrub_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    rest, _, _fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = _HIDDEN + "@" + authority.rpartition("@")[2]
    segments = [_HIDDEN if _SECRET_SEGMENT.match(part) else part for part in path.split("/")]
    if authority.lower().startswith("hooks.slack.com"):  # the whole path is the credential
        segments = [segments[0], _HIDDEN] if segments and segments[0] else [_HIDDEN]
    clean = f"{scheme}://{authority}{slash}{'/'.join(segments)}"
    if question:
        names = [pair.partition("=")[0] for pair in query.split("&") if pair]
        clean += "?" + "&".join(f"{name}={_HIDDEN}" for name in names)
    return clean
