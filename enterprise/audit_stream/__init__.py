"""Audit streaming: audit entries sent to a SIEM over syslog (RFC 5424) or an HTTPS webhook."""
