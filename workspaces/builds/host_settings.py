"""This host's build settings from Portal's configuration: what the runner gets instead of it.

Django-free (the configuration is read from the environment), so `portal worker` can print the
build sandbox notice before Django starts anything.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from portal import config
from portal.embedded.lock import Runtime
from workspaces.provisioner import sandbox
from workspaces.provisioner.host import HostSettings


def _laptop_default(cfg: config.Config) -> bool:
    """Is this the embedded default (`make run`), whose databases live in the data dir?"""
    if cfg.database_url is None:
        return True
    runtime = Runtime.discover(cfg.data_dir)
    return runtime is not None and runtime.database_url == cfg.database_url


def _socket_dirs(*urls: str | None) -> list[Path]:
    """Directories of the unix sockets PostgreSQL or Redis URLs point at."""
    dirs = []
    for url in filter(None, urls):
        parts = urlsplit(url)
        if parts.scheme == "unix":
            dirs.append(Path(unquote(parts.path)).parent)
        hosts = [unquote(parts.netloc.rpartition("@")[2].partition(":")[0])]
        hosts += ",".join(parse_qs(parts.query).get("host", [])).split(",")
        dirs += [Path(h) for h in hosts if h.startswith("/")]
    return [d for d in dirs if d != Path("/")]


def sandbox_settings(cfg: config.Config | None = None) -> sandbox.Settings:
    cfg = cfg or config.load()
    root = cfg.data_dir / "provisioner"
    allow = cfg.dangerous_allow_unsandboxed_builds
    readable = [root / "mirror", root / "terraform.rc"]
    if cfg.terraform_provider_mirror:
        readable.append(cfg.terraform_provider_mirror)
    return sandbox.Settings(
        mode=cfg.build_sandbox,
        # The laptop default may build unsandboxed where the host cannot sandbox (loudly).
        allow_unsandboxed=_laptop_default(cfg) if allow is None else allow,
        bwrap=cfg.bwrap_binary,
        build_user=cfg.build_user,
        hidden=tuple(
            str(p)
            for p in (
                cfg.data_dir,
                *_socket_dirs(cfg.database_url, cfg.redis_url),
                *cfg.build_sandbox_hide,
            )
        ),
        readable=tuple(str(p) for p in readable),
        writable=(str(cfg.data_dir / "builds"),),
    )


def load() -> HostSettings:
    """This host's settings, as the configuration says now (it is cached: see config.load)."""
    cfg = config.load()
    return HostSettings(
        data_dir=cfg.data_dir,
        sandbox=sandbox_settings(cfg),
        terraform_provider_mirror=cfg.terraform_provider_mirror,
        build_env_allow=tuple(cfg.build_env_allow),
    )
