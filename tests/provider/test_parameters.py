"""portal_parameter rules on their own: declaration soundness and value checks (no Terraform)."""

from __future__ import annotations

import pytest
from tf.types import Unknown

from workspaces.terraform_provider import init_script_env, parameter_env
from workspaces.terraform_provider.parameters import Declaration, declaration_problems


def summaries(config):
    return [f"{p.summary}: {p.detail}".rstrip(": ") for p in declaration_problems(config)]


def test_environment_variable_names():
    assert parameter_env("region") == "PORTAL_PARAMETER_726567696F6E"
    assert parameter_env("é") == "PORTAL_PARAMETER_C3A9"
    assert init_script_env("linux", "amd64") == "PORTAL_AGENT_INIT_SCRIPT_LINUX_AMD64"


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        ("number", ["0", "-3", "2.5", "1e3"], ["", " 1", ".5", "nan", "inf", "1_000", "two"]),
        ("bool", ["true", "false"], ["True", "1", "yes", ""]),
        ("list(string)", ["[]", '["a", "b"]'], ["a,b", '["a", 1]', '{"a": 1}', ""]),
        ("string", ["", "anything at all"], []),
    ],
)
def test_values_must_match_the_type(type_, good, bad):
    decl = Declaration(name="p", type=type_)
    for value in good:
        assert decl.value_errors(value) == [], value
    for value in bad:
        assert decl.value_errors(value), value


def test_options_restrict_values_and_each_list_element():
    options = [{"name": "A", "value": "a"}, {"name": "B", "value": "b"}]
    assert Declaration("p", options=options).value_errors("c") == [
        '"c" is not one of the options: "a", "b".'
    ]
    listed = Declaration("p", type="list(string)", options=options)
    assert listed.value_errors('["a", "b"]') == []
    assert listed.value_errors('["a", "z"]') == ['"z" is not one of the options: "a", "b".']


def test_number_bounds_with_default_and_custom_messages():
    both = Declaration("p", type="number", validation={"min": 1, "max": 8})
    assert both.value_errors("8") == []
    assert both.value_errors("9") == ["9 is not between 1 and 8."]
    assert Declaration("p", type="number", validation={"min": 1}).value_errors("0") == [
        "0 is less than the minimum 1."
    ]
    assert Declaration("p", type="number", validation={"max": 2.5}).value_errors("3") == [
        "3 is more than the maximum 2.5."
    ]
    custom = Declaration(
        "p",
        type="number",
        validation={"min": 1, "max": 8, "error": "{value} not in {min}..{max} {x}"},
    )
    assert custom.value_errors("0") == ["0 not in 1..8 {x}"]


def test_regex_must_match_the_whole_value():
    decl = Declaration("p", validation={"regex": "[a-z]+[0-9]"})
    assert decl.value_errors("abc1") == []
    assert decl.value_errors("abc12") == [
        '"abc12" does not match the regular expression "[a-z]+[0-9]".'
    ]


def test_sound_declarations_have_no_problems():
    assert summaries({"name": "a"}) == []
    assert (
        summaries(
            {
                "name": "size",
                "type": "number",
                "default": "4",
                "mutable": True,
                "ephemeral": True,
                "order": 2,
                "option": [{"name": "Four", "value": "4"}, {"name": "Eight", "value": "8"}],
                "validation": {"min": 1, "max": 8, "monotonic": "increasing"},
            }
        )
        == []
    )


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"name": " "}, "The parameter name must not be empty"),
        ({"name": "a", "type": "map"}, 'Unknown parameter type "map"'),
        (
            {"name": "a", "type": "bool", "default": "yes"},
            'Invalid default value: "yes" is not a bool',
        ),
        (
            {"name": "a", "option": [{"name": "X", "value": "1"}, {"name": "X", "value": "2"}]},
            'Duplicate option name "X"',
        ),
        (
            {"name": "a", "option": [{"name": "X", "value": "1"}, {"name": "Y", "value": "1"}]},
            'Duplicate option value "1"',
        ),
        (
            {"name": "a", "type": "bool", "option": [{"name": "X", "value": "maybe"}]},
            "Option value does not match the parameter type bool",
        ),
        (
            {"name": "a", "default": "z", "option": [{"name": "X", "value": "x"}]},
            'Invalid default value: "z" is not one of the options: "x".',
        ),
        (
            {"name": "a", "validation": {"min": 1}},
            "validation.min applies to number parameters only",
        ),
        (
            {"name": "a", "type": "number", "validation": {"min": 5, "max": 4}},
            "validation.min is greater than validation.max",
        ),
        (
            {"name": "a", "type": "number", "validation": {"monotonic": "up"}},
            'Unknown monotonic order "up"',
        ),
        (
            {"name": "a", "type": "number", "validation": {"regex": "x"}},
            "validation.regex applies to string",
        ),
        (
            {"name": "a", "validation": {"regex": "("}},
            "validation.regex is not a valid regular expression",
        ),
        (
            {"name": "a", "default": "ab", "validation": {"regex": "^a$", "error": "only a"}},
            "Invalid default value: only a",
        ),
        (
            {"name": "a", "ephemeral": True, "mutable": True},
            "An ephemeral parameter needs a default",
        ),
        (
            {"name": "a", "ephemeral": True, "default": "x"},
            "An ephemeral parameter must be mutable",
        ),
        ({"name": "a", "order": 1.5}, "order must be a whole number"),
    ],
)
def test_unsound_declarations(config, expected):
    assert any(s.startswith(expected) for s in summaries(config)), summaries(config)


def test_unknown_values_are_not_judged_yet():
    # terraform validate sees variables as unknown: nothing about them can be wrong yet.
    assert summaries({"name": Unknown, "type": Unknown, "default": Unknown}) == []
    assert summaries(
        {
            "name": "a",
            "type": "number",
            "default": "3",
            "validation": {"min": Unknown, "max": 2},
        }
    ) == ["Invalid default value: 3 is more than the maximum 2."]
