"""Tests for template archives, versions and the template API."""
