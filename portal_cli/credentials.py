"""Where the CLI keeps the server URL and session token, and the env vars that override them."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

URL_ENV = "PORTAL_URL"
TOKEN_ENV = "PORTAL_SESSION_TOKEN"
# Two small files, as Coder keeps `url` and `session` in its config directory.
URL_FILE = "url"
SESSION_FILE = "session"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "portal"


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str
    url_from_env: bool = False
    token_from_env: bool = False


def normalize_url(raw: str) -> str:
    """`example.com` means https; `localhost:8000` means http, as a person typing it expects."""
    url = raw.strip().rstrip("/")
    if url and "://" not in url:
        host = url.split("/", 1)[0].split(":", 1)[0].strip("[]")
        local = host in {"localhost", "127.0.0.1", "::1"} or host.endswith(".localhost")
        url = f"{'http' if local else 'https'}://{url}"
    return url


def _read(name: str) -> str:
    try:
        return (config_dir() / name).read_text().strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


_pinned_url = ""  # set by `portal --url URL ...` (config-ssh writes it into ProxyCommands)


def pin_url(url: str) -> None:
    """Make this process talk to `url` only, with a token only if it is that server's login."""
    global _pinned_url
    _pinned_url = normalize_url(url)


def load() -> Credentials:
    """What `portal login` saved, with PORTAL_URL / PORTAL_SESSION_TOKEN taking precedence."""
    env_url = os.environ.get(URL_ENV, "").strip()
    env_token = os.environ.get(TOKEN_ENV, "").strip()
    creds = Credentials(
        url=normalize_url(env_url or _read(URL_FILE)),
        token=env_token or _read(SESSION_FILE),
        url_from_env=bool(env_url),
        token_from_env=bool(env_token),
    )
    if _pinned_url and creds.url != _pinned_url:
        # The current login is another server's: its token must never be sent to this one.
        return Credentials(url=_pinned_url, token="")
    return creds


def _write_private(path: Path, text: str) -> None:
    # Create the temporary file 0600 from the start, so the token is never world-readable,
    # and rename it into place so a crash never leaves half a token behind.
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def save(url: str, token: str) -> Path:
    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(directory / URL_FILE, url)
    _write_private(directory / SESSION_FILE, token)
    return directory


def forget() -> bool:
    """Delete the saved credentials; True if there was anything to delete."""
    removed = False
    for name in (SESSION_FILE, URL_FILE):
        with contextlib.suppress(FileNotFoundError):
            (config_dir() / name).unlink()
            removed = True
    return removed
