"""Tests of the enterprise apps."""
