"""Parameter values checked against a version's schema: every problem is reported at once."""

from __future__ import annotations

import pytest

from portal.errors import ValidationFailed
from templates_app.parameters import to_env, validate
from tests.workspaces.helpers import param

SCHEMA = [
    param(
        "region",
        default="eu",
        options=[{"name": "EU", "value": "eu"}, {"name": "US", "value": "us"}],
    ),
    param("cpu", "number", default="2", validation={"min": 1, "max": 8, "error": ""}),
    param("gpu", "bool", default="false"),
    param("repos", "list(string)", default="[]"),
    param("image", default="ubuntu", validation={"regex": "[a-z]+(:[a-z0-9.]+)?"}),
    param("project", default=None),  # required
]


def problems(schema, values, **kwargs) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as e:
        validate(schema, values, **kwargs)
    assert e.value.status_code == 400
    return {v["field"]: v["detail"] for v in e.value.validations}


def test_defaults_fill_what_is_not_given_and_values_become_strings():
    values = validate(SCHEMA, {"project": "x", "cpu": 4, "gpu": True, "repos": ["a", "b"]})
    assert values == {
        "region": "eu",
        "cpu": "4",
        "gpu": "true",
        "repos": '["a","b"]',
        "image": "ubuntu",
        "project": "x",
    }


def test_every_invalid_field_is_listed_with_its_reason():
    found = problems(
        SCHEMA,
        {
            "region": "mars",
            "cpu": "lots",
            "gpu": "yes",
            "repos": '["a", 1]',
            "image": "Ubuntu Latest",
            "colour": "blue",
        },
    )
    assert set(found) == {
        "parameters.region",
        "parameters.cpu",
        "parameters.gpu",
        "parameters.repos",
        "parameters.image",
        "parameters.project",
        "parameters.colour",
    }
    assert "'mars' is not an option" in found["parameters.region"]
    assert "eu, us" in found["parameters.region"]
    assert "not a number" in found["parameters.cpu"]
    assert "true or false" in found["parameters.gpu"]
    assert "JSON array of strings" in found["parameters.repos"]
    assert "pattern" in found["parameters.image"]
    assert "Required" in found["parameters.project"]
    assert "Unknown parameter" in found["parameters.colour"]


@pytest.mark.parametrize(("cpu", "ok"), [("1", True), ("8", True), ("0", False), ("9", False)])
def test_number_bounds_are_inclusive(cpu, ok):
    values = {"project": "p", "cpu": cpu}
    if ok:
        assert validate(SCHEMA, values)["cpu"] == cpu
    else:
        assert "parameters.cpu" in problems(SCHEMA, values)


@pytest.mark.parametrize("text", ["nan", "inf", "1_000", "0x10", "", " "])
def test_number_must_be_a_terraform_number(text):
    assert "parameters.cpu" in problems(SCHEMA, {"project": "p", "cpu": text})


def test_author_message_is_used_with_placeholders():
    schema = [
        param(
            "disk",
            "number",
            default="10",
            validation={
                "min": 10,
                "max": 100,
                "error": "Disk must be {min}-{max} GB, not {value}.",
            },
        )
    ]
    assert problems(schema, {"disk": "5"}) == {"parameters.disk": "Disk must be 10-100 GB, not 5."}


def test_regex_must_match_the_whole_value():
    schema = [param("name", validation={"regex": "[a-z]+"})]
    assert validate(schema, {"name": "abc"}) == {"name": "abc"}
    assert "parameters.name" in problems(schema, {"name": "abc1"})


def test_list_options_apply_to_each_element():
    schema = [
        param("tools", "list(string)", default="[]", options=[{"value": "git"}, {"value": "vim"}])
    ]
    assert validate(schema, {"tools": '["git", "vim"]'}) == {"tools": '["git","vim"]'}
    assert "'emacs'" in problems(schema, {"tools": ["git", "emacs"]})["parameters.tools"]


def test_required_refuses_an_empty_value():
    assert "parameters.project" in problems([param("project", default=None)], {"project": ""})


class TestAgainstThePreviousBuild:
    def test_values_not_given_are_kept(self):
        schema = [param("a", default="1"), param("b", default="1")]
        assert validate(schema, {"b": "3"}, previous={"a": "2", "b": "2"}) == {"a": "2", "b": "3"}

    def test_immutable_cannot_change_after_creation_but_can_be_repeated(self):
        schema = [param("zone", default="a", mutable=False)]
        assert validate(schema, {"zone": "b"}, creating=True) == {"zone": "b"}
        assert validate(schema, {"zone": "b"}, previous={"zone": "b"}) == {"zone": "b"}
        found = problems(schema, {"zone": "c"}, previous={"zone": "b"})
        assert "Cannot be changed" in found["parameters.zone"]

    def test_immutable_new_in_this_version_may_be_set(self):
        schema = [param("zone", default="a", mutable=False)]
        assert validate(schema, {"zone": "c"}, previous={}) == {"zone": "c"}

    @pytest.mark.parametrize(
        ("monotonic", "new", "ok"),
        [("increasing", "30", True), ("increasing", "10", False), ("decreasing", "10", True),
         ("decreasing", "30", False), ("increasing", "20", True)],
    )  # fmt: skip
    def test_monotonic_moves_one_way_from_the_previous_value(self, monotonic, new, ok):
        schema = [param("disk", "number", default="10", validation={"monotonic": monotonic})]
        if ok:
            assert validate(schema, {"disk": new}, previous={"disk": "20"}) == {"disk": new}
        else:
            found = problems(schema, {"disk": new}, previous={"disk": "20"})
            assert "it was 20" in found["parameters.disk"]

    def test_monotonic_does_not_apply_when_creating(self):
        schema = [param("disk", "number", default="10", validation={"monotonic": "increasing"})]
        assert validate(schema, {"disk": "5"}, previous={"disk": "20"}, creating=True)

    def test_parameters_the_version_dropped_are_dropped(self):
        assert validate([param("a")], {}, previous={"a": "x", "gone": "y"}) == {"a": "x"}


def test_to_env_names_each_value_by_the_hex_of_its_name():
    env = to_env([param("cpu"), param("région"), param("unset")], {"cpu": "2", "région": "eu"})
    assert env == {
        "PORTAL_PARAMETER_637075": "2",
        "PORTAL_PARAMETER_72C3A967696F6E": "eu",
    }
