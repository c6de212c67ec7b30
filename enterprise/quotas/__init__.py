"""Workspace quotas: a daily-cost budget per user (their groups' allowances), checked in builds."""
