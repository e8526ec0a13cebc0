"""`redact`: the one function that hides secrets in text shown to people.

Text that reaches a person (a `repr`, `videopipe settings`, a log line, an
exception message, an error stored with a job) goes through `redact`, which
masks, wherever they appear in it:

- the password of a URL's userinfo: `postgresql://app:***@db/videos`, even in a
  URL too malformed for `urllib.parse` (a bad port, a stray `[`, a `/` or `@`
  in the password);
- a `password=` (or `passwd`, `pwd`, `sslpassword`, `secret`, `token`,
  `api_key`) value in a URL query or a libpq key=value string, quoted or not:
  `host=db password=*** dbname=videos`;
- API keys of the `sk-...` shape and `Bearer` tokens;
- every value registered with `register_secret` (the configured API key and
  database password, whatever their shape).

It imports nothing of videopipe's: every layer may use it.
"""

from __future__ import annotations

import re
import threading

__all__ = ["MASK", "passwords_in", "redact", "redact_url", "register_secret"]

MASK = "***"

# scheme://userinfo@ : the userinfo runs to the last `@` before the next blank or quote,
# so a password holding `@` or `/` (a malformed URL) is masked whole.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<rest>[^\s'\"<>]+)")
_KEY_VALUE = re.compile(
    r"(?P<key>(?<![A-Za-z0-9])(?:[A-Za-z0-9]+_)*"
    r"(?:password|passwd|pwd|sslpassword|secret|token|api_?key))"
    r"(?P<eq>\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'?|\"(?:[^\"\\]|\\.)*\"?|[^\s&#;,)]+)",
    re.IGNORECASE,
)
_HEADER = re.compile(r"(?P<key>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE)
_API_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}")

_known: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask `value` wherever `redact` meets it from now on (values under 4 characters are not).

    The settings register the API key and the database password they read;
    a provider registers the key it is given.
    """
    if value is None or len(value) < 4:
        return
    with _known_lock:
        _known.add(value)


def _userinfo(match: re.Match[str]) -> str:
    rest = match["rest"]
    at = rest.rfind("@")
    if at < 0:
        return match[0]
    userinfo, host = rest[:at], rest[at:]
    user, colon, _password = userinfo.partition(":")
    if not colon:
        return match[0]
    return f"{match['head']}{user}:{MASK}{host}"


def _key_value(match: re.Match[str]) -> str:
    return f"{match['key']}{match['eq']}{MASK}"


def redact(text: str) -> str:
    """`text` with every password, key and registered secret in it replaced by `***`.

    Examples:
        >>> redact("postgresql://app:s3cret@db:5432/videos")
        'postgresql://app:***@db:5432/videos'
        >>> redact("host=db user=app password=s3cret dbname=videos")
        'host=db user=app password=*** dbname=videos'
    """
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    if "://" in text:
        text = _USERINFO.sub(_userinfo, text)
    if "=" in text:
        text = _KEY_VALUE.sub(_key_value, text)
    text = _HEADER.sub(lambda m: f"{m['key']}{MASK}", text)
    return _API_KEY.sub("sk-" + MASK, text)


def passwords_in(text: str) -> list[str]:
    """The passwords `redact` would mask in `text` (a DSN), unquoted, for `register_secret`."""
    found: list[str] = []
    for match in _USERINFO.finditer(text):
        rest = match["rest"]
        _user, colon, password = rest[: max(rest.rfind("@"), 0)].partition(":")
        if colon and password:
            found.append(password)
    for match in _KEY_VALUE.finditer(text):
        value = match["value"]
        if value[:1] in "'\"":
            value = value[1:-1] if len(value) > 1 and value[-1] == value[0] else value[1:]
        found.append(value)
    return found


def redact_url(url: str) -> str:
    """`url` with its password masked: `redact` under the name callers of URLs look for."""
    return redact(url)
