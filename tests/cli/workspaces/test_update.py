"""`portal update` and `portal create --copy-parameters-from` against a live server."""

from __future__ import annotations

import copy

import pytest

from templates_app.choices import ImportStatus
from tests.cli.workspaces.conftest import SCHEMA, latest_build
from tests.factories import TemplateVersionFactory
from workspaces.choices import JobStatus

pytestmark = pytest.mark.django_db(transaction=True)


def _new_version(template, schema, name="v2"):
    version = TemplateVersionFactory(
        template=template,
        name=name,
        import_status=ImportStatus.SUCCEEDED,
        parameters_schema=schema,
    )
    template.active_version = version
    template.save(update_fields=["active_version"])
    return version


def _created(cli, member, *params):
    cli.login(member)
    cli.ok("create", "dev", "-t", "dev-env", "-p", "disk=20", "-p", "region=us", *params, "-y")
    return latest_build("dev")


def test_update_asks_only_for_new_or_no_longer_valid_parameters(cli, member, template, provisioner):
    _created(cli, member)
    schema = copy.deepcopy(SCHEMA)
    schema[0]["options"] = [o for o in schema[0]["options"] if o["value"] != "us"]  # us is gone
    schema.append(
        {**copy.deepcopy(SCHEMA[1]), "name": "gpus", "display_name": "GPUs", "default": None,
         "required": True, "order": 9}
    )  # fmt: skip
    version = _new_version(template, schema)

    refused = cli("update", "dev")  # no terminal: the new required one is named
    assert refused.returncode == 1
    assert "gpus (GPUs)" in refused.stderr and "disk" not in refused.stderr
    assert latest_build("dev").build_number == 1

    result = cli.ok("update", "dev", "-p", "gpus=1", "--yes")
    assert "Updating dev to version v2 of dev-env." in result.stdout
    build = latest_build("dev")
    assert (build.build_number, build.transition, build.template_version_id) == (
        2,
        "start",
        version.id,
    )
    assert build.job.status == JobStatus.SUCCEEDED
    # disk and cpu kept; region (its old value gone) took the new default; gpus as given
    assert build.parameters == {"region": "eu", "cpu": "2", "disk": "20", "gpus": "1"}
    again = cli.ok("update", "dev")
    assert "already on the active version" in again.stdout
    assert latest_build("dev").build_number == 2


def test_an_invalid_answer_is_the_servers_400_and_nothing_is_built(
    cli, member, template, provisioner
):
    _created(cli, member)
    schema = copy.deepcopy(SCHEMA) + [
        {**copy.deepcopy(SCHEMA[1]), "name": "gpus", "default": "0", "required": False, "order": 9}
    ]
    _new_version(template, schema)
    result = cli("update", "dev", "-p", "gpus=99")
    assert result.returncode == 1 and "parameters.gpus: Must be at most 8." in result.stderr
    assert latest_build("dev").build_number == 1


def test_create_copies_another_workspaces_parameters(cli, member, template, provisioner):
    _created(cli, member, "-p", "cpu=6")
    cli.ok("create", "dev2", "-t", "dev-env", "--copy-parameters-from", "dev", "-p", "cpu=3", "-y")
    assert latest_build("dev2").parameters == {"region": "us", "cpu": "3", "disk": "20"}
    missing = cli("create", "dev3", "-t", "dev-env", "--copy-parameters-from", "nope", "-y")
    assert missing.returncode == 1 and "nope" in missing.stderr
