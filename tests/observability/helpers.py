"""Reading /metrics the way Prometheus does (its text format, parsed by prometheus_client)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted label items): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels) -> float:
    """The sample's value; 0 if absent (a counter never incremented has no sample yet)."""
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def names(text: str) -> set[str]:
    """Every sample name (counters with _total, histograms with _bucket/_sum/_count)."""
    return {name for name, _ in samples(text)}
