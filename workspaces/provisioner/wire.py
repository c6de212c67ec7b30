"""The job protocol's plain data as JSON, for the external daemons' transport (both ends).

Bytes travel as base64, times as ISO 8601; unknown keys are ignored so a newer server can add
fields an older daemon does not know yet.
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import datetime
from typing import Any

from workspaces.provisioner.outputs import Agent, App, Resource
from workspaces.provisioner.protocol import (
    JobResult,
    JobSpec,
    LogLine,
    Owner,
    QuotaAnswer,
    RunResult,
    WorkspaceMeta,
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data or b"").decode()


def _unb64(text: Any) -> bytes:
    return base64.b64decode(str(text or "").encode(), validate=True)


def _known(cls, data: dict) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in (data or {}).items() if k in names}


# ---------------------------------------------------------------- specs


def spec_to_dict(spec: JobSpec) -> dict:
    data = dataclasses.asdict(spec)
    data["archive"] = _b64(spec.archive)
    data["prior_state"] = _b64(spec.prior_state)
    return data


def spec_from_dict(data: dict) -> JobSpec:
    fields = _known(JobSpec, data)
    fields["archive"] = _unb64(data.get("archive"))
    fields["prior_state"] = _unb64(data.get("prior_state"))
    fields["owner"] = Owner(**_known(Owner, data.get("owner") or {}))
    fields["workspace"] = WorkspaceMeta(**_known(WorkspaceMeta, data.get("workspace") or {}))
    return JobSpec(**fields)


# ---------------------------------------------------------------- logs


def line_to_dict(line: LogLine) -> dict:
    return {
        "level": line.level,
        "stage": line.stage,
        "output": line.output,
        "source": line.source,
        "created_at": line.created_at.isoformat(),
    }


def line_from_dict(data: dict) -> LogLine:
    if not isinstance(data, dict):
        raise ValueError("a log line must be an object")
    created = datetime.fromisoformat(str(data["created_at"]))
    if created.tzinfo is None:
        raise ValueError("a log line's created_at needs a time zone")
    return LogLine(
        level=str(data.get("level", "info")),
        stage=str(data.get("stage", "")),
        output=str(data.get("output", "")),
        source=str(data.get("source", "provisioner")),
        created_at=created,
    )


# ---------------------------------------------------------------- results


def _resource_from_dict(data: dict) -> Resource:
    fields = _known(Resource, data)
    agents = []
    for a in data.get("agents") or []:
        agent = _known(Agent, a)
        agent["apps"] = [App(**_known(App, app)) for app in a.get("apps") or []]
        agents.append(Agent(**agent))
    fields["agents"] = agents
    return Resource(**fields)


def _run_from_dict(data: dict | None) -> RunResult | None:
    if data is None:
        return None
    fields = _known(RunResult, data)
    if data.get("resources") is not None:
        fields["resources"] = [_resource_from_dict(r) for r in data["resources"]]
    return RunResult(**fields)


def result_to_dict(result: JobResult) -> dict:
    data = dataclasses.asdict(result)
    data["state"] = _b64(result.state)
    return data


def result_from_dict(data: dict) -> JobResult:
    if not isinstance(data, dict):
        raise ValueError("a job result must be an object")
    fields = _known(JobResult, data)
    fields["state"] = _unb64(data.get("state"))
    fields["run"] = _run_from_dict(data.get("run"))
    fields["dry_runs"] = {
        str(k): _run_from_dict(v) for k, v in (data.get("dry_runs") or {}).items()
    }
    return JobResult(**fields)


def quota_to_dict(answer: QuotaAnswer) -> dict:
    return dataclasses.asdict(answer)


def quota_from_dict(data: dict) -> QuotaAnswer:
    return QuotaAnswer(**_known(QuotaAnswer, data))
