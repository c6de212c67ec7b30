"""The replicas table: a process's row while it serves, the API, the console and health check."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.accounts.choices import Role
from portal.replicas import health, heartbeat, queries, services
from portal.replicas.models import PRUNE_AFTER, STALE_AFTER, Replica

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(check, what: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def peer(address: str = "127.0.0.1:9", *, silent: timedelta = timedelta(0), **fields) -> Replica:
    """Another process's row, as its own heartbeat would have written it `silent` ago."""
    row = services.register(relay_address=address)
    Replica.objects.filter(pk=row.pk).update(
        last_heartbeat_at=timezone.now() - silent, hostname="peer", **fields
    )
    row.refresh_from_db()
    return row


@pytest.fixture
def listener():
    """A live relay address (a listening socket) on loopback."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield f"127.0.0.1:{server.getsockname()[1]}"


def dead_address() -> str:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    return f"127.0.0.1:{port}"  # closed again: connections are refused


def test_a_process_registers_heartbeats_advertises_and_leaves_on_a_graceful_stop():
    beat = heartbeat.Heartbeat(every=0.1)
    beat.start()
    try:
        row = wait_for(lambda: Replica.objects.filter(pk=beat.replica_id).first(), "the row")
        beat.advertise("127.0.0.1:4242")
        wait_for(
            lambda: Replica.objects.get(pk=beat.replica_id).relay_address == "127.0.0.1:4242",
            "the relay address",
        )
        first = row.last_heartbeat_at
        wait_for(lambda: Replica.objects.get(pk=beat.replica_id).last_heartbeat_at > first, "beat")
        assert Replica.objects.get(pk=beat.replica_id).online
    finally:
        beat.stop()
    assert not beat.is_alive()
    assert not Replica.objects.filter(pk=beat.replica_id).exists()


def test_a_pruned_row_comes_back_at_the_next_heartbeat():
    row = services.register(relay_address="127.0.0.1:1")
    Replica.objects.filter(pk=row.pk).delete()
    services.heartbeat(row.pk, relay_address="127.0.0.1:1", latency_ms=1.5, error="")
    assert Replica.objects.get(pk=row.pk).relay_address == "127.0.0.1:1"


def test_silent_replicas_are_stale_and_pruned_after_an_hour():
    alive = peer()
    stale = peer(silent=STALE_AFTER + timedelta(seconds=1))
    gone = peer(silent=PRUNE_AFTER + timedelta(seconds=1))
    assert list(queries.online()) == [alive]
    assert set(queries.stale()) == {stale, gone}
    assert services.prune_stale() == 1
    assert set(Replica.objects.all()) == {alive, stale}


def test_the_api_lists_replicas_in_coders_shape_to_owners_and_auditors(
    client_for, make_user, owner, listener
):
    row = peer(listener, database_latency_ms=1.25)
    body = client_for(owner).get("/api/v2/replicas").json()
    (item,) = body["results"]
    assert item["id"] == str(row.id)
    assert item["hostname"] == "peer" and item["relay_address"] == listener
    assert item["region_id"] == 0 and item["error"] == "" and item["status"] == "online"
    assert item["database_latency"] == 1250  # microseconds, as Coder reports it
    assert {"created_at", "pid", "version", "last_heartbeat_at"} <= set(item)
    assert client_for(make_user(Role.AUDITOR)).get("/api/v2/replicas").status_code == 200
    refused = client_for(make_user()).get("/api/v2/replicas")
    assert refused.status_code == 403
    assert "owner" in refused.json()["message"]


def test_the_console_lists_replicas_read_only(client, owner, make_user):
    row = peer("127.0.0.1:7777")
    client.force_login(owner)
    page = client.get("/admin/replicas/replica/")
    assert page.status_code == 200
    assert "127.0.0.1:7777" in page.content.decode()
    assert client.get(f"/admin/replicas/replica/{row.pk}/change/").status_code == 200
    assert client.get("/admin/replicas/replica/add/").status_code == 403
    client.force_login(make_user())
    assert client.get("/admin/replicas/replica/").status_code in (302, 403)


def test_health_is_ok_with_reachable_peers(listener):
    peer(listener)
    result = health.check()
    assert result["status"] == "ok" and result["details"]["online"] == 1


def test_health_warns_about_a_replica_that_stopped_heartbeating(listener):
    peer(listener)
    peer(dead_address(), silent=STALE_AFTER + timedelta(seconds=5))
    result = health.check()
    assert result["status"] == "warning"
    assert "stopped heartbeating" in result["message"]
    assert len(result["details"]["stale"]) == 1


def test_health_is_an_error_when_an_online_peer_cannot_be_reached():
    address = dead_address()
    peer(address)
    result = health.check()
    assert result["status"] == "error"
    assert address in result["message"]
    assert result["details"]["unreachable"][0]["relay_address"] == address


def test_the_health_check_is_registered():
    from portal.registry import registry

    assert registry["health_checks"]["replicas"].check is health.check


def test_a_failed_relay_link_names_the_dead_replica():
    address = dead_address()
    row = peer(address, silent=STALE_AFTER + timedelta(seconds=30))
    text = queries.describe_relay_address(address)
    assert f"peer:{row.pid}" in text and str(row.id) in text and "dead: no heartbeat" in text
    assert "its process stopped" in queries.describe_relay_address("127.0.0.1:1")


def test_a_heartbeat_records_peers_it_cannot_reach(listener):
    address = dead_address()
    peer(address)
    peer(listener)
    bad = heartbeat.unreachable_peers()
    assert [r.relay_address for r, _ in bad] == [address]
