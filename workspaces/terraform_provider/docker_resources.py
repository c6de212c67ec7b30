"""Docker resources on the `docker` SDK: images, volumes and containers with no registry needed.

For air-gapped sites where the kreuzwerker/docker provider cannot be installed: they talk to the
daemon named by DOCKER_HOST (or the local socket), build from a local context or use a local
image, and read back what really exists so a plan shows drift (a removed container, a stopped
one, a rebuilt image) instead of trusting Terraform state.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from tf.iface import (
    Config,
    CreateContext,
    DeleteContext,
    ImportContext,
    PlanContext,
    ReadContext,
    UpdateContext,
)
from tf.schema import Schema
from tf.types import Bool, List, Map, Number, String, Unknown

from workspaces.terraform_provider.parameters import Problem, known, q
from workspaces.terraform_provider.resources import _Resource
from workspaces.terraform_provider.schema_helpers import attr

# Every object these resources make carries this label, so an operator (or a test) finds them.
MANAGED_LABEL = "dev.portal.managed"
RESTART_POLICIES = ("no", "on-failure", "unless-stopped", "always")

# Build output of images built by this provider process, for the container's log streamer:
# image id -> lines. A provider process serves one Terraform run, so this stays small.
BUILD_NOTES: dict[str, list[str]] = {}


def client():
    import docker  # imported late: most builds never touch Docker, and it costs ~100 ms

    return docker.from_env(timeout=int(os.environ.get("PORTAL_DOCKER_TIMEOUT", "120")))


def _errors():
    import docker.errors

    return docker.errors


def _labels(planned: dict) -> dict[str, str]:
    return {**(planned.get("labels") or {}), MANAGED_LABEL: "true"}


def _own_labels(labels: dict | None) -> dict[str, str] | None:
    """Labels as the template wrote them: without ours (nor the image's inherited ones)."""
    if labels is None:
        return None
    return {k: v for k, v in labels.items() if k != MANAGED_LABEL}


def context_digest(context: str, dockerfile: str, args: dict | None) -> str:
    """A digest of the build context's files and the build args: it changes when a rebuild
    would give another image (file contents, names and modes; not timestamps)."""
    h = hashlib.sha256()
    root = Path(context)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    h.update(dockerfile.encode() + b"\0")
    for key, value in sorted((args or {}).items()):
        h.update(f"{key}={value}\0".encode())
    return h.hexdigest()


class DockerImage(_Resource):
    name = "docker_image"
    schema = Schema(
        version=0,
        description="A Docker image on the daemon: built from a local context, or a local image "
        "given another name. Nothing is pulled unless the image is missing.",
        attributes=[
            attr("id", String(), "The image id (sha256:...).", computed=True),
            attr(
                "name",
                String(),
                "Name (repository:tag) the image gets, e.g. portal-workspace-<id>.",
                required=True,
                requires_replace=True,
            ),
            attr(
                "source_image",
                String(),
                "Use this image as it is (tagged with `name`): exclusive with build_context.",
                optional=True,
                requires_replace=True,
            ),
            attr(
                "build_context",
                String(),
                "Directory to build from (its Dockerfile); rebuilt when its files change.",
                optional=True,
            ),
            attr("dockerfile", String(), "Dockerfile inside the context.", default="Dockerfile"),
            attr("build_args", Map(String()), "Build arguments.", optional=True),
            attr(
                "triggers",
                Map(String()),
                "Any change of these values rebuilds the image.",
                optional=True,
                requires_replace=True,
            ),
            attr(
                "keep_locally",
                Bool(),
                "Keep the image on the daemon when the resource is destroyed.",
                default=False,
            ),
            attr("labels", Map(String()), "Labels of the image (build only).", optional=True),
            attr(
                "context_sha256",
                String(),
                "Digest of the build context and args the image was built from.",
                computed=True,
            ),
        ],
    )

    def problems(self, config: Config) -> list[Problem]:
        source, context = config.get("source_image"), config.get("build_context")
        if source is not None and context is not None:
            return [Problem("Set source_image or build_context, not both", path=["source_image"])]
        if source is None and context is None:
            return [Problem("An image needs source_image or build_context")]
        if known(context) and not Path(context, config.get("dockerfile") or "Dockerfile").is_file():
            return [
                Problem(
                    f"No Dockerfile in build_context {q(context)}",
                    "Point build_context at a directory holding the Dockerfile.",
                    ["build_context"],
                )
            ]
        return []

    def _digest(self, planned: dict) -> Any:
        context = planned.get("build_context")
        if context is None:
            return None
        if not known(context) or not known(planned.get("build_args")):
            return Unknown
        return context_digest(context, planned.get("dockerfile") or "Dockerfile",
                              planned.get("build_args"))  # fmt: skip

    def plan(self, ctx: PlanContext, current: dict | None, planned: dict) -> dict:
        digest = self._digest(planned)
        planned["context_sha256"] = digest
        # A changed context or args is an in-place rebuild: the id is known only after it.
        if current is not None and digest != current.get("context_sha256"):
            planned["id"] = Unknown
        return planned

    def _make(self, diags, planned: dict) -> dict | None:
        errors = _errors()
        docker = client()
        name = planned["name"]
        try:
            if planned.get("build_context") is not None:
                image_id, lines = self._build(docker, planned)
            else:
                image_id, lines = self._tag_source(docker, planned)
        except (errors.BuildError, errors.APIError, errors.ImageNotFound) as exc:
            diags.add_error(f"Docker image {q(name)} could not be made", str(exc))
            return None
        BUILD_NOTES[image_id] = lines
        return {**planned, "id": image_id, "context_sha256": self._digest(planned)}

    def _build(self, docker, planned: dict) -> tuple[str, list[str]]:
        errors = _errors()
        lines = [f"Building image {planned['name']} from {planned['build_context']}"]
        image_id = None
        stream = docker.api.build(
            path=planned["build_context"],
            dockerfile=planned.get("dockerfile") or "Dockerfile",
            tag=planned["name"],
            buildargs=planned.get("build_args") or {},
            labels=_labels(planned),
            rm=True,
            forcerm=True,
            pull=False,  # FROM a local image must not try a registry
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise errors.BuildError(chunk["error"].strip(), lines)
            text = chunk.get("stream", "").rstrip()
            if text:
                lines.extend(text.splitlines())
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
        if image_id is None:
            image_id = docker.images.get(planned["name"]).id
        lines.append(f"Built image {planned['name']} ({image_id[:19]})")
        return image_id, lines

    def _tag_source(self, docker, planned: dict) -> tuple[str, list[str]]:
        errors = _errors()
        source = planned["source_image"]
        try:
            image = docker.images.get(source)
            lines = [f"Using local image {source}"]
        except errors.ImageNotFound:
            # Only a connected host gets this far; an air-gapped one reports the missing image.
            lines = [f"Pulling image {source}"]
            image = docker.images.pull(source)
        image.tag(planned["name"])
        return image.id, lines

    def create(self, ctx: CreateContext, planned: dict) -> dict | None:
        return self._make(ctx.diagnostics, planned)

    def update(self, ctx: UpdateContext, current: dict, planned: dict) -> dict | None:
        if planned.get("id") is Unknown:
            made = self._make(ctx.diagnostics, planned)
            # The previous build, now nameless, goes now if no container runs it any more, or
            # else with the last container that does (see DockerContainer.delete).
            if made is not None and made["id"] != current.get("id"):
                _remove_if_orphaned(current.get("id") or "")
            return made
        return {**planned, "id": current["id"]}

    def read(self, ctx: ReadContext, current: dict) -> dict | None:
        errors = _errors()
        try:
            image = client().images.get(current["name"])
        except errors.ImageNotFound:
            return None  # removed behind Terraform's back: the plan makes it again
        return {**current, "id": image.id}

    def delete(self, ctx: DeleteContext, current: dict) -> None:
        if current.get("keep_locally"):
            return None
        errors = _errors()
        try:
            # By name: removes this tag, and the image only if nothing else names or uses it.
            client().images.remove(current["name"], noprune=False)
        except errors.ImageNotFound:
            pass
        except errors.APIError as exc:
            ctx.diagnostics.add_warning(f"Image {q(current['name'])} kept", str(exc))
        return None

    def import_(self, ctx: ImportContext, id: str) -> dict | None:
        errors = _errors()
        try:
            image = client().images.get(id)
        except errors.ImageNotFound:
            ctx.diagnostics.add_error(f"No Docker image {q(id)}", "Import by image name.")
            return None
        return {
            "id": image.id,
            "name": id,
            "source_image": id,
            "build_context": None,
            "dockerfile": "Dockerfile",
            "build_args": None,
            "triggers": None,
            "keep_locally": True,  # imported: not ours to remove unless the template says so
            "labels": None,
            "context_sha256": None,
        }


class DockerVolume(_Resource):
    name = "docker_volume"
    schema = Schema(
        version=0,
        description="A named Docker volume (a workspace's home): kept until destroyed.",
        attributes=[
            attr("id", String(), "The volume name.", computed=True),
            attr("name", String(), "Volume name.", required=True, requires_replace=True),
            attr(
                "labels",
                Map(String()),
                "Labels (fixed at creation: a change replaces the volume, so keep them stable).",
                optional=True,
                requires_replace=True,
            ),
            attr("mountpoint", String(), "Where the daemon keeps it.", computed=True),
        ],
    )

    def create(self, ctx: CreateContext, planned: dict) -> dict | None:
        errors = _errors()
        try:
            volume = client().volumes.create(name=planned["name"], labels=_labels(planned))
        except errors.APIError as exc:
            ctx.diagnostics.add_error(f"Docker volume {q(planned['name'])} not created", str(exc))
            return None
        return {**planned, "id": volume.name, "mountpoint": volume.attrs.get("Mountpoint", "")}

    def read(self, ctx: ReadContext, current: dict) -> dict | None:
        errors = _errors()
        try:
            volume = client().volumes.get(current["name"])
        except errors.NotFound:
            return None
        labels = _own_labels(volume.attrs.get("Labels") or {})
        return {**current, "labels": labels or current.get("labels"),
                "mountpoint": volume.attrs.get("Mountpoint", "")}  # fmt: skip

    def delete(self, ctx: DeleteContext, current: dict) -> None:
        errors = _errors()
        with contextlib.suppress(errors.NotFound):
            client().volumes.get(current["name"]).remove(force=True)
        return None

    def import_(self, ctx: ImportContext, id: str) -> dict | None:
        errors = _errors()
        try:
            volume = client().volumes.get(id)
        except errors.NotFound:
            ctx.diagnostics.add_error(f"No Docker volume {q(id)}", "Import by volume name.")
            return None
        return {
            "id": volume.name,
            "name": volume.name,
            "labels": _own_labels(volume.attrs.get("Labels") or {}) or None,
            "mountpoint": volume.attrs.get("Mountpoint", ""),
        }


def _remove_if_orphaned(image_id: str) -> None:
    """An image of ours that a rebuild left without a name goes with its last container."""
    errors = _errors()
    try:
        image = client().images.get(image_id)
        if not image.tags and (image.labels or {}).get(MANAGED_LABEL) == "true":
            client().images.remove(image.id)
    except (errors.NotFound, errors.APIError):
        pass  # gone already, or another container still runs it


def _replace(name: str, type_, description: str, **flags) -> Any:
    return attr(name, type_, description, requires_replace=True, **flags)


class DockerContainer(_Resource):
    name = "docker_container"
    schema = Schema(
        version=0,
        description="A running Docker container. What the daemon cannot change in place "
        "(image, command, environment, mounts, labels) replaces it; memory and CPU shares are "
        "updated in place; a stopped or removed container shows in the plan and is started or "
        "made again.",
        attributes=[
            attr("id", String(), "The container id.", computed=True),
            _replace("name", String(), "Container name.", required=True),
            _replace("image", String(), "Image id or name.", required=True),
            _replace("hostname", String(), "Host name inside.", optional=True),
            _replace("user", String(), "User the entrypoint runs as.", optional=True),
            _replace("entrypoint", List(String()), "Entrypoint.", optional=True),
            _replace("command", List(String()), "Command.", optional=True),
            _replace("env", Map(String()), "Environment.", optional=True, sensitive=True),
            _replace("labels", Map(String()), "Labels.", optional=True),
            _replace(
                "volumes",
                Map(String()),
                "Named volumes to mount: {volume name = path in the container}.",
                optional=True,
            ),
            _replace(
                "extra_hosts",
                Map(String()),
                'Host names to add, e.g. {"host.docker.internal" = "host-gateway"}.',
                optional=True,
            ),
            _replace(
                "restart",
                String(),
                "Restart policy: " + ", ".join(RESTART_POLICIES) + ".",
                default="unless-stopped",
            ),  # fmt: skip
            attr("memory_mb", Number(), "Memory limit in MB (0: none).", default=0),
            attr("cpu_shares", Number(), "CPU weight (1024 is one core's worth).", default=0),
            attr(
                "running",
                Bool(),
                "Whether the container runs; a stopped one shows as a change and is started.",
                default=True,
            ),
            attr("stop_timeout", Number(), "Seconds between SIGTERM and SIGKILL.", default=10),
            attr(
                "log_agent_token",
                String(),
                "The agent's token: a watcher posts the image build and the container's events "
                "(exits, OOM kills, restarts) to the agent's startup log until it connects.",
                optional=True,
                sensitive=True,
            ),
            attr("exit_code", Number(), "Exit code of the last run, when it ended.", computed=True),
        ],
    )

    def problems(self, config: Config) -> list[Problem]:
        restart = config.get("restart")
        if known(restart) and restart not in RESTART_POLICIES:
            return [Problem(f"Unsupported restart policy {q(restart)}", path=["restart"])]
        for key in ("memory_mb", "cpu_shares", "stop_timeout"):
            value = config.get(key)
            if known(value) and value < 0:
                return [Problem(f"{key} must be 0 or more", path=[key])]
        return []

    def plan(self, ctx: PlanContext, current: dict | None, planned: dict) -> dict:
        if current is not None and planned.get("running") and not current.get("running"):
            planned["exit_code"] = Unknown
        return planned

    def create(self, ctx: CreateContext, planned: dict) -> dict | None:
        errors = _errors()
        docker = client()
        memory = int(planned.get("memory_mb") or 0)
        try:
            container = docker.containers.create(
                planned["image"],
                name=planned["name"],
                hostname=planned.get("hostname"),
                user=planned.get("user") or "",
                entrypoint=planned.get("entrypoint"),
                command=planned.get("command"),
                environment=planned.get("env") or {},
                labels=_labels(planned),
                volumes={v: {"bind": p, "mode": "rw"}
                         for v, p in (planned.get("volumes") or {}).items()},
                extra_hosts=planned.get("extra_hosts") or None,
                restart_policy={"Name": planned.get("restart") or "unless-stopped"},
                mem_limit=f"{memory}m" if memory else None,
                cpu_shares=int(planned.get("cpu_shares") or 0) or None,
                stop_signal="SIGTERM",
                detach=True,
            )  # fmt: skip
        except errors.APIError as exc:
            ctx.diagnostics.add_error(f"Container {q(planned['name'])} not created", str(exc))
            return None
        # Before it starts, so not one exit of a crash loop goes unreported.
        self._stream(container, planned)
        if planned.get("running", True):
            try:
                container.start()
            except errors.APIError as exc:
                ctx.diagnostics.add_error(f"Container {q(planned['name'])} did not start", str(exc))
                container.remove(force=True)
                return None
        return {**planned, "id": container.id, "exit_code": None}

    def _stream(self, container, planned: dict) -> None:
        token = planned.get("log_agent_token")
        url = os.environ.get("PORTAL_WORKSPACE_ACCESS_URL")
        if not token or not url:
            return
        from workspaces.logstream.spawn import spawn_docker_watcher

        image_id = container.attrs.get("Image", "")
        notes = BUILD_NOTES.get(image_id) or [f"Using image {planned['image']}"]
        spawn_docker_watcher(container.id, url=url, token=token, lines=notes)

    def update(self, ctx: UpdateContext, current: dict, planned: dict) -> dict | None:
        errors = _errors()
        try:
            container = client().containers.get(current["id"])
            memory = int(planned.get("memory_mb") or 0)
            changes = {}
            if planned.get("memory_mb") != current.get("memory_mb"):
                # A lower limit needs swap to follow, or the daemon refuses it.
                changes.update(mem_limit=f"{memory}m" if memory else 0,
                               memswap_limit=-1 if memory else 0)  # fmt: skip
            if planned.get("cpu_shares") != current.get("cpu_shares"):
                changes["cpu_shares"] = int(planned.get("cpu_shares") or 0)
            if changes:
                container.update(**changes)
            if planned.get("running") and not current.get("running"):
                self._stream(container, planned)
                container.start()
            elif not planned.get("running") and current.get("running"):
                container.stop(timeout=int(planned.get("stop_timeout") or 10))
        except errors.NotFound:
            ctx.diagnostics.add_error(
                f"Container {q(planned['name'])} is gone", "Run the build again to make it."
            )
            return None
        except errors.APIError as exc:
            ctx.diagnostics.add_error(f"Container {q(planned['name'])} not updated", str(exc))
            return None
        return {**planned, "id": current["id"], "exit_code": current.get("exit_code")}

    def read(self, ctx: ReadContext, current: dict) -> dict | None:
        errors = _errors()
        try:
            container = client().containers.get(current["id"])
        except errors.NotFound:
            return None
        attrs = container.attrs
        state, host = attrs.get("State", {}), attrs.get("HostConfig", {})
        running = bool(state.get("Running") or state.get("Restarting"))
        return {
            **current,
            "running": running,
            "exit_code": None if running else state.get("ExitCode"),
            "memory_mb": (host.get("Memory") or 0) // (1024 * 1024),
            "cpu_shares": host.get("CpuShares") or 0,
        }

    def delete(self, ctx: DeleteContext, current: dict) -> None:
        errors = _errors()
        try:
            container = client().containers.get(current["id"])
        except errors.NotFound:
            return None
        # SIGTERM first, so the workspace's processes can save their work.
        with contextlib.suppress(errors.APIError):
            container.stop(timeout=int(current.get("stop_timeout") or 10))
        with contextlib.suppress(errors.NotFound):
            container.remove(force=True)
        _remove_if_orphaned(container.attrs.get("Image", ""))
        return None

    def import_(self, ctx: ImportContext, id: str) -> dict | None:
        errors = _errors()
        try:
            container = client().containers.get(id)
        except errors.NotFound:
            ctx.diagnostics.add_error(f"No Docker container {q(id)}", "Import by name or id.")
            return None
        attrs = container.attrs
        cfg, host, state = attrs["Config"], attrs["HostConfig"], attrs["State"]
        image_labels = {}
        with contextlib.suppress(errors.ImageNotFound):
            image_labels = client().images.get(attrs["Image"]).labels or {}
        labels = {k: v for k, v in (cfg.get("Labels") or {}).items()
                  if image_labels.get(k) != v}  # fmt: skip
        env = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
        mounts = {m["Name"]: m["Destination"] for m in attrs.get("Mounts", [])
                  if m.get("Type") == "volume"}  # fmt: skip
        extra = dict(h.split(":", 1) for h in host.get("ExtraHosts") or [] if ":" in h)
        running = bool(state.get("Running") or state.get("Restarting"))
        return {
            "id": container.id,
            "name": container.name,
            "image": attrs["Image"],
            "hostname": cfg.get("Hostname"),
            "user": cfg.get("User") or None,
            "entrypoint": cfg.get("Entrypoint"),
            "command": cfg.get("Cmd"),
            "env": env or None,
            "labels": _own_labels(labels) or None,
            "volumes": mounts or None,
            "extra_hosts": extra or None,
            "restart": (host.get("RestartPolicy") or {}).get("Name") or "no",
            "memory_mb": (host.get("Memory") or 0) // (1024 * 1024),
            "cpu_shares": host.get("CpuShares") or 0,
            "running": running,
            "stop_timeout": cfg.get("StopTimeout") or 10,
            "log_agent_token": None,
            "exit_code": None if running else state.get("ExitCode"),
        }


ALL = (DockerImage, DockerVolume, DockerContainer)
