"""Where each setting came from, settings nobody knows, and URLs safe to show.

Settings come from the environment, else the `.env` file, else their defaults (names are read
case-insensitively and an empty value counts as unset, as `Settings` reads them). A `CONNECTOR_*`
name that is no setting is most likely a misspelt one: it is named with the closest known
setting rather than silently ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from dotenv import dotenv_values

Source = Literal["environment", ".env", "file", "default"]
FILE_SUFFIX = "_FILE"  # CONNECTOR_<SECRET>_FILE names a file holding the secret (Docker secrets)
HIDDEN = "********"
_SECRET_WORDS = ("password", "secret", "token", "key")


def env_file_values(env_file: str | None) -> dict[str, str]:
    """The non-empty values the env file sets, by upper-cased name (none without a file)."""
    if env_file is None or not Path(env_file).is_file():
        return {}
    return {name.upper(): value for name, value in dotenv_values(env_file).items() if value}


def environment_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The non-empty values the environment sets, by upper-cased name."""
    return {name.upper(): value for name, value in environ.items() if value}


def env_file_names(env_file: str | None) -> set[str]:
    """The names the env file sets to a non-empty value, upper-cased (none without a file)."""
    return set(env_file_values(env_file))


def environment_names(environ: Mapping[str, str]) -> set[str]:
    """The names the environment sets to a non-empty value, upper-cased."""
    return set(environment_values(environ))


def source_of(name: str, environ: Mapping[str, str], env_file: str | None) -> Source:
    """Where the setting `name` (a `CONNECTOR_*` variable) took its value from."""
    if name in environment_names(environ):
        return "environment"
    if name in env_file_names(env_file):
        return ".env"
    if name + FILE_SUFFIX in environment_names(environ) | env_file_names(env_file):
        return "file"
    return "default"


class SecretFileError(ValueError):
    """A `*_FILE` setting that cannot give its secret (the message never holds the secret)."""


def secret_files(
    names: Iterable[str], environ: Mapping[str, str], env_file: str | None
) -> dict[str, str]:
    """The secrets read from files: `name` → content, for each `name_FILE` set (env wins).

    A file's content is the value, without its final line break. Raises `SecretFileError` naming
    the variable (never the content) when the file cannot be read, is empty, or the setting is
    also given directly.
    """
    given, in_file = environment_values(environ), env_file_values(env_file)
    found: dict[str, str] = {}
    for name in names:
        variable = name + FILE_SUFFIX
        path = given.get(variable) or in_file.get(variable)
        if path is None:
            continue
        if name in given or name in in_file:
            raise SecretFileError(f"{name} and {variable} are both set; set one of them")
        try:
            content = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SecretFileError(f"{variable}: cannot read {path} ({why})") from exc
        value = content.removesuffix("\n").removesuffix("\r")
        if not value:
            raise SecretFileError(f"{variable}: {path} is empty")
        found[name] = value
    return found


def unknown_settings(
    known: Iterable[str], prefix: str, environ: Mapping[str, str], env_file: str | None
) -> list[str]:
    """One warning per `prefix`ed name that is no setting, naming the closest known one."""
    bare = sorted(name.removeprefix(prefix) for name in known)
    given = environment_names(environ) | env_file_names(env_file)
    lines = []
    for name in sorted(n for n in given if n.startswith(prefix) and n[len(prefix) :] not in bare):
        close = closest_setting(name[len(prefix) :], bare)
        guess = f"; did you mean {prefix}{close}?" if close else " (no setting is close)"
        lines.append(f"warning: unknown setting {name}{guess}")
    return lines


def closest_setting(given: str, known: Iterable[str]) -> str | None:
    """The known setting `given` means: one ending with it, else the closest spelling, or none.

    A name that ends a known one has lost its prefix (`TIMEOUT` for `WISENET_TIMEOUT`).
    """
    names = sorted(known)
    ending = [name for name in names if name.endswith(f"_{given}")]
    if ending:
        return ending[0]
    close = difflib.get_close_matches(given, names, n=1, cutoff=0.6)
    return close[0] if close else None


def masked_url(url: str) -> str:
    """A URL with its password, and query values named like secrets, hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = parts.netloc
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{HIDDEN}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    hidden = [(key, HIDDEN if _secret_name(key) else value) for key, value in pairs]
    if netloc == parts.netloc and hidden == pairs:
        return url
    query = f"?{urlencode(hidden, safe='*')}" if hidden else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme}://{netloc}{parts.path}{query}{fragment}"


def _secret_name(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)
