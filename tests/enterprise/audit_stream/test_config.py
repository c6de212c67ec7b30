"""PORTAL_AUDIT_* parsing: every mistake is one sentence naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from enterprise.audit_stream.config import SyslogTarget, WebhookTarget


def test_nothing_set_streams_nowhere(configure):
    cfg = configure()
    assert cfg.targets == () and cfg.destination_names == ()


def test_both_destinations_parsed(configure, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    cfg = configure(
        PORTAL_AUDIT_SYSLOG_ADDRESS="[2001:db8::7]:6514",
        PORTAL_AUDIT_SYSLOG_TLS="true",
        PORTAL_AUDIT_SYSLOG_CA_FILE=ca,
        PORTAL_AUDIT_SYSLOG_FACILITY="local3",
        PORTAL_AUDIT_WEBHOOK_URL="https://user:pw@siem.example.com/in?token=s3cret",
        PORTAL_AUDIT_WEBHOOK_TOKEN="tok",
        PORTAL_AUDIT_WEBHOOK_HEADERS='{"X-Splunk-Index": "audit"}',
        PORTAL_AUDIT_STREAM_BATCH_SIZE="200",
    )
    assert cfg.syslog == SyslogTarget(
        "2001:db8::7", 6514, True, ca_file=str(ca), facility=19, hostname=cfg.syslog.hostname
    )
    assert isinstance(cfg.webhook, WebhookTarget) and cfg.webhook.token == "tok"
    assert cfg.webhook.headers == (("X-Splunk-Index", "audit"),)
    assert cfg.batch_size == 200 and cfg.destination_names == ("syslog", "webhook")
    # What the API and console show carries no credentials or query.
    assert cfg.webhook.describe() == "https://siem.example.com/in"


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({"PORTAL_AUDIT_SYSLOG_ADDRESS": "siem.example.com"}, "is not an address"),
        ({"PORTAL_AUDIT_SYSLOG_ADDRESS": "siem:99999"}, "is not an address"),
        ({"PORTAL_AUDIT_SYSLOG_TLS": "true"}, "need PORTAL_AUDIT_SYSLOG_ADDRESS"),
        (
            {"PORTAL_AUDIT_SYSLOG_ADDRESS": "h:514", "PORTAL_AUDIT_SYSLOG_CA_FILE": "/nope.pem"},
            "not a readable file",
        ),
        (
            {"PORTAL_AUDIT_SYSLOG_ADDRESS": "h:514", "PORTAL_AUDIT_SYSLOG_TLS": "maybe"},
            "Audit streaming configuration",
        ),
        (
            {"PORTAL_AUDIT_SYSLOG_ADDRESS": "h:514", "PORTAL_AUDIT_SYSLOG_FACILITY": "bogus"},
            "is not a facility",
        ),
        ({"PORTAL_AUDIT_WEBHOOK_URL": "http://siem.example.com/in"}, "must use https"),
        ({"PORTAL_AUDIT_WEBHOOK_URL": "ftp://siem.example.com/in"}, "must be an https URL"),
        ({"PORTAL_AUDIT_WEBHOOK_TOKEN": "t"}, "need PORTAL_AUDIT_WEBHOOK_URL"),
        (
            {"PORTAL_AUDIT_WEBHOOK_URL": "https://s/i", "PORTAL_AUDIT_WEBHOOK_HEADERS": "{"},
            "is not valid JSON",
        ),
        (
            {"PORTAL_AUDIT_WEBHOOK_URL": "https://s/i", "PORTAL_AUDIT_WEBHOOK_HEADERS": '{"a":1}'},
            "JSON object of header names to string values",
        ),
        ({"PORTAL_AUDIT_STREAM_BATCH_SIZE": "0"}, "must be between 1 and 10000"),
    ],
)
def test_a_mistake_is_one_sentence(configure, env, sentence):
    with pytest.raises(ImproperlyConfigured) as refused:
        configure(**env)
    assert sentence in str(refused.value)
    assert str(refused.value).count(". ") <= 1  # one sentence (an example may follow a colon)


def test_a_mistake_stops_start_up_with_its_sentence():
    env = {**os.environ, "PORTAL_AUDIT_SYSLOG_ADDRESS": "siem.example.com"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[3],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "PORTAL_AUDIT_SYSLOG_ADDRESS 'siem.example.com' is not an address" in result.stderr
