"""Entries reach a real syslog listener as RFC 5424 over TCP (RFC 6587 octet counting), in
plain text and over TLS (a CA made by the test, and a client certificate)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from enterprise.audit_stream import delivery
from enterprise.audit_stream.models import OutboxRow, StreamDestination
from portal.audit import services as audit
from tests.enterprise.audit_stream.receivers import CrashingListener, SyslogListener, TestCA

# <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
RFC5424 = re.compile(
    rb"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    rb"(?P<msgid>\S+) (?P<sd>\[portal@32473(?: [a-z_]+=\"(?:[^\"\\\]]|\\.)*\")+\]) (?P<msg>.*)$",
    re.S,
)


@pytest.fixture
def syslog(configure, syslog_listener):
    configure(
        PORTAL_AUDIT_SYSLOG_ADDRESS=f"127.0.0.1:{syslog_listener.port}",
        PORTAL_AUDIT_SYSLOG_HOSTNAME="portal-test",
        PORTAL_AUDIT_STREAM_BATCH_SIZE=40,
    )
    return syslog_listener


def test_messages_are_rfc5424_with_the_entry_as_json(syslog, record):
    [ok] = record(1)
    [refused] = record(1, action="logout", status_code=403)
    assert delivery.deliver_all() == {"syslog": 2}

    first, second = (RFC5424.match(m) for m in syslog.messages)
    assert first and second, syslog.messages
    assert first["app"] == b"portal" and first["host"] == b"portal-test"
    assert first["msgid"] == b"write" and second["msgid"] == b"logout"
    # Facility 13 (log audit) by default; notice for a success, warning for a refusal.
    assert int(first["pri"]) == 13 * 8 + 5 and int(second["pri"]) == 13 * 8 + 4
    assert f'id="{ok}"'.encode() in first["sd"] and b'status_code="200"' in first["sd"]
    doc = json.loads(first["msg"])
    assert doc["id"] == ok and doc["action"] == "write" and doc["resource_target"] == "user0"
    assert first["ts"].decode() == doc["time"]
    assert json.loads(second["msg"])["id"] == refused


def test_structured_data_escapes_what_would_end_it(syslog, system):
    audit.record(
        actor=system, action="write", resource_type="user", resource_id='a"b]c\\d',
        resource_target="t",
    )  # fmt: skip
    delivery.deliver_all()
    [message] = syslog.messages
    match = RFC5424.match(message)
    assert match and b'resource_id="a\\"b\\]c\\\\d"' in match["sd"]
    assert json.loads(match["msg"])["resource_id"] == 'a"b]c\\d'


def test_every_entry_arrives_in_order_across_an_outage(syslog, record):
    first = record(50)
    assert delivery.deliver_all() == {"syslog": 50}
    syslog.stop()
    during = record(10)
    assert delivery.deliver_all() == {"syslog": 0}
    state = StreamDestination.objects.get(name="syslog")
    assert state.attempts == 1 and "refused" in state.last_error.lower()
    assert OutboxRow.objects.count() == 10
    syslog.start()
    after = record(5)
    assert delivery.deliver_all(now=timezone.now() + timedelta(seconds=60)) == {"syslog": 15}
    assert [d["id"] for d in syslog.documents()] == first + during + after


def test_a_receiver_dying_mid_batch_gets_the_whole_batch_again(configure, record):
    crashing = CrashingListener()
    configure(PORTAL_AUDIT_SYSLOG_ADDRESS=f"127.0.0.1:{crashing.port}")
    ids = record(200)
    assert delivery.deliver_all() == {"syslog": 0}  # it read part, then died
    assert OutboxRow.objects.count() == 200
    listener = SyslogListener(port=crashing.port).start()  # restarted on the same port
    try:
        later = timezone.now() + timedelta(seconds=60)
        assert delivery.deliver_all(now=later) == {"syslog": 200}
        assert [d["id"] for d in listener.documents()] == ids
    finally:
        listener.stop()


def test_tls_with_a_private_ca_and_a_client_certificate(configure, record, tmp_path):
    ca = TestCA(tmp_path)
    listener = SyslogListener(tls=ca.server_context(require_client_cert=True)).start()
    try:
        cert, key = ca.issue("portal-client", server=False)
        configure(
            PORTAL_AUDIT_SYSLOG_ADDRESS=f"127.0.0.1:{listener.port}",
            PORTAL_AUDIT_SYSLOG_TLS="true",
            PORTAL_AUDIT_SYSLOG_CA_FILE=ca.ca_file,
            PORTAL_AUDIT_SYSLOG_CERT_FILE=cert,
            PORTAL_AUDIT_SYSLOG_KEY_FILE=key,
        )
        ids = record(3)
        assert delivery.deliver_all() == {"syslog": 3}
        assert [d["id"] for d in listener.documents()] == ids
        subject = dict(x[0] for x in listener.peer_certs[0]["subject"])
        assert subject["commonName"] == "portal-client"
    finally:
        listener.stop()


def test_tls_refuses_a_receiver_its_ca_did_not_sign(configure, record, tmp_path):
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours, theirs = TestCA(tmp_path / "ours"), TestCA(tmp_path / "theirs")
    listener = SyslogListener(tls=theirs.server_context()).start()
    try:
        configure(
            PORTAL_AUDIT_SYSLOG_ADDRESS=f"127.0.0.1:{listener.port}",
            PORTAL_AUDIT_SYSLOG_TLS="true",
            PORTAL_AUDIT_SYSLOG_CA_FILE=ours.ca_file,
        )
        record(2)
        assert delivery.deliver_all() == {"syslog": 0}
        state = StreamDestination.objects.get(name="syslog")
        assert "certificate verify failed" in state.last_error and state.attempts == 1
        assert OutboxRow.objects.count() == 2 and listener.messages == []  # kept, not sent
    finally:
        listener.stop()
