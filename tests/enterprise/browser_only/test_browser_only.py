"""Browser-only mode: every connection path that is not a browser's is refused with 409 and
the same sentence, audited; the web terminal and apps still work."""

from __future__ import annotations

import asyncio

import pytest

from enterprise.browser_only import policy as browser_only
from portal import config, hooks
from portal.audit.models import AuditEntry
from tests.agents.helpers import make_agent
from tests.cli import conftest as cli_conftest
from tests.factories import workspace
from tests.relay.helpers import EchoAgent, Socket, client_path
from tests.workspaces.test_websocket import bearer
from workspaces.connectivity import connections, relay
from workspaces.models import WorkspaceAgent, WorkspaceResource

TOKEN = "agent-secret-token"
cli = cli_conftest.cli  # `portal` against a live server


@pytest.fixture
def mode(monkeypatch, request):
    """Turn browser-only mode on (PORTAL_BROWSER_ONLY), as an operator would."""

    def set_mode(on: bool) -> None:
        monkeypatch.setenv("PORTAL_BROWSER_ONLY", "true" if on else "false")
        config.load.cache_clear()

    request.addfinalizer(config.load.cache_clear)
    set_mode(True)
    return set_mode


@pytest.fixture
def gate_off():
    def resolve(name):
        return False if name == "browser_only" else None

    hooks.feature_gate.register(resolve)
    yield
    hooks.feature_gate.unregister(resolve)


def test_the_check_is_registered_on_the_one_connection_policy_hook():
    assert browser_only.refuse_non_browser in hooks.connection_policy.handlers()


@pytest.mark.django_db
def test_every_kind_of_connection_but_the_browsers_is_refused(mode, make_user):
    alice = make_user(username="alice")
    # Every kind core knows, so a kind added later is decided here too (refused by default).
    for kind in connections.KINDS:
        refused = connections.policy_refusal(alice, kind)
        if kind in ("terminal", "app"):
            assert refused is None, kind
        else:
            assert refused.status_code == 409, kind
            assert refused.message == browser_only.MESSAGE
    assert connections.policy_refusal(alice, "some-future-kind") is not None
    mode(False)
    assert all(connections.policy_refusal(alice, kind) is None for kind in connections.KINDS)


@pytest.mark.django_db
def test_a_license_without_the_feature_turns_the_mode_off(mode, gate_off, make_user):
    alice = make_user(username="alice")
    assert connections.policy_refusal(alice, "ssh") is None


@pytest.mark.django_db(transaction=True)
def test_streams_ssh_and_port_forward_are_refused_4409_and_audited_the_terminal_is_not(
    mode, make_user
):
    alice = make_user(username="alice")
    agent = make_agent(alice, TOKEN)
    headers = bearer(alice)
    browser_kinds = {k for k, v in relay.STREAM_KINDS.items() if v in browser_only.BROWSER_KINDS}
    assert browser_kinds == {"pty"}  # a new stream kind must be decided on purpose

    async def go():
        fake = EchoAgent(TOKEN)
        await fake.open()
        closes = {}
        for kind in relay.STREAM_KINDS:
            if kind in browser_kinds:
                continue
            path = (
                client_path(agent, kind=kind)
                if kind == "tcp"
                else (f"/api/v2/workspaceagents/{agent.pk}/streams?kind={kind}")
            )
            closes[kind] = await Socket(path, headers).refused()
        await fake.hang_up()
        return closes

    closes = asyncio.run(asyncio.wait_for(go(), 60))
    assert set(closes) == {"tcp", "ssh"}
    for kind, closed in closes.items():
        assert closed["code"] == 4409, kind
        assert closed["reason"] == browser_only.MESSAGE  # whole: it fits a close reason
    entries = AuditEntry.objects.filter(action="connect", status_code=409)
    assert sorted(e.additional_fields["kind"] for e in entries) == ["port-forward", "ssh"]
    assert {e.additional_fields["refused"] for e in entries} == {browser_only.MESSAGE}
    assert {e.actor_username for e in entries} == {"alice"}


@pytest.mark.django_db
def test_the_api_says_what_is_allowed(mode, make_user, client_for):
    alice = make_user(username="alice")
    body = client_for(alice).get("/api/v2/deployment/connections").json()
    kinds = {row["kind"]: row for row in body["kinds"]}
    assert kinds["ssh"] == {"kind": "ssh", "allowed": False, "reason": browser_only.MESSAGE}
    assert kinds["port-forward"]["allowed"] is False
    assert kinds["terminal"] == {"kind": "terminal", "allowed": True, "reason": ""}
    assert kinds["app"]["allowed"] is True


@pytest.mark.django_db
def test_the_workspace_page_says_so_instead_of_ssh_commands(mode, make_user, client):
    alice = make_user(username="alice")
    ws = workspace(alice, name="dev")
    resource = WorkspaceResource.objects.create(
        job=ws.latest_build.job, transition="start", type="terraform_data", name="vm"
    )
    WorkspaceAgent.objects.create(
        resource=resource, name="main", token_hash="t", expanded_directory="/home/alice"
    )
    client.force_login(alice)
    page = client.get("/workspaces/alice/dev").content.decode()
    assert browser_only.MESSAGE in page
    assert "portal config-ssh" not in page
    assert "vscode://" not in page and "jetbrains-gateway://" not in page
    mode(False)
    page = client.get("/workspaces/alice/dev").content.decode()
    assert "portal config-ssh" in page
    assert "vscode://vscode-remote/ssh-remote+portal.dev/home/alice" in page


@pytest.mark.django_db(transaction=True)
def test_config_ssh_refuses_with_the_same_message(mode, cli, make_user, tmp_path):
    alice = make_user(username="alice")
    workspace(alice, name="dev")
    cli.login(alice)
    config_file = tmp_path / "ssh_config"
    result = cli("config-ssh", "--ssh-config-file", str(config_file), "--yes")
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {browser_only.MESSAGE}"
    assert not config_file.exists()
    # Desktop IDEs connect over SSH too: `portal open` refuses with the same sentence.
    for ide in ("vscode", "jetbrains"):
        result = cli("open", ide, "dev", "/home/alice", "--no-open")
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr.strip() == f"error: {browser_only.MESSAGE}"
