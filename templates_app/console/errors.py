"""A service's refusal shown on the console form that asked for it, field by field."""

from __future__ import annotations

from django import forms

from portal.errors import ServiceError


def show(form: forms.Form, error: ServiceError, fields: dict[str, str] | None = None) -> None:
    """Put `error` on `form`: its validations on the fields they name (renamed by `fields`),
    the rest, with the message, at the top; what the user typed stays in the form."""
    fields = fields or {}
    placed, unplaced = set(), []
    for problem in error.validations:
        field, detail = problem.get("field", ""), problem.get("detail") or error.message
        name = fields.get(field, field)
        if name in form.fields:
            form.add_error(name, detail)
            placed.add(detail)
        else:
            unplaced.append(f"{field}: {detail}" if field else detail)
    if error.message not in placed:
        form.add_error(None, error.message + (f" {error.detail}" if error.detail else ""))
    for text in unplaced:
        form.add_error(None, text)
