"""One authorization policy: per-resource rules that every entry point asks, apps register.

Subject, action, object as in Coder's rbac; querysets restricted per action as in NetBox's
`RestrictedQuerySet.restrict(user, action)`. Each app registers a `Policy` per resource in its
`AppConfig.ready()`; enterprise adds `Rule`s to a resource (`add_rule`) without editing it.

- `can(actor, action, obj)`: may `actor` do `action` to `obj`? `obj` is a model instance, or the
  resource itself (its name or model class) for actions on the resource as a whole: "create",
  or an action on every object of it (what the console and site-wide checks ask).
- `visible_to(actor, resource, action="read")`: the queryset of objects `actor` may `action`.

This module imports no app: resources are named by their policies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model, QuerySet

READ = "read"


@dataclass(frozen=True, eq=False)
class Rule:
    """An extra condition on a resource, added by registering (enterprise: template ACL...).

    `permits(actor, action, obj) -> bool` may refuse an object (obj is None for the resource as
    a whole); `narrows(actor, action, qs) -> qs` narrows what `visible_to` returns. A rule with
    only `narrows` refuses an object that its narrowing leaves out, so `can` and `visible_to`
    agree.

    A rule may also allow what the base policy refuses, for one object at a time (an ACL's
    `admin` entry lets a member manage that one template): `grants(actor, action, obj) -> bool`
    answers for an object, `widens(actor, action, qs) -> qs` gives the rows of the model's
    queryset `qs` it grants, which `visible_to` adds to the base scope. A rule with only
    `widens` grants an object its widening keeps (one query); `grants` is a faster answer for
    one object, and must agree with `widens`, which a granting rule always gives. Grants never
    apply to the resource as a whole (obj None: "create", site-wide checks), and every rule's
    `permits`/`narrows` still applies on top: `can` = (base allows or some rule grants) and
    every rule allows.
    """

    permits: Callable | None = None
    narrows: Callable | None = None
    name: str = ""
    grants: Callable | None = None
    widens: Callable | None = None

    def allows(self, actor, action: str, obj) -> bool:
        if self.permits is not None and not self.permits(actor, action, obj):
            return False
        if self.narrows is not None and isinstance(obj, Model):
            one = type(obj)._default_manager.filter(pk=obj.pk)
            return self.narrows(actor, action, one).exists()
        return True

    def gives(self, actor, action: str, obj) -> bool:
        """Whether this rule grants `action` on the object `obj` (see the class docstring)."""
        if not isinstance(obj, Model):
            return False
        if self.grants is not None:
            return bool(self.grants(actor, action, obj))
        if self.widens is not None:
            one = type(obj)._default_manager.filter(pk=obj.pk)
            return self.widens(actor, action, one).exists()
        return False


class Policy:
    """The rules of one resource. Subclasses answer `allows` and `scope`; rules come on top.

    `site_wide` maps an action to the role-table permission needed before any object is looked
    up (the API refuses with 403 naming the roles); other actions are decided per object, and
    an object a caller may not read is answered as missing (404), never 403.
    """

    resource: str = ""
    model: type[Model] | None = None
    actions: tuple[str, ...] = (READ,)
    site_wide: dict[str, str] = {}

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def allows(self, actor, action: str, obj) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def scope(self, actor, action: str) -> QuerySet:
        """Every row `actor` may `action`, before rules; nothing unless a policy says more."""
        return self.model._default_manager.none()

    def refusal(self, action: str) -> str:
        """What the API says when a site-wide check refuses `action`."""
        return "You are not allowed to do this."

    def can(self, actor, action: str, obj) -> bool:
        self._check_action(action)
        target = None if obj is None or _is_resource(obj) else obj
        if not self.allows(actor, action, target) and not any(
            rule.gives(actor, action, target) for rule in self.rules
        ):
            return False
        return all(rule.allows(actor, action, target) for rule in self.rules)

    def visible_to(self, actor, action: str = READ) -> QuerySet:
        self._check_action(action)
        qs = self.scope(actor, action)
        for rule in self.rules:
            if rule.widens is not None:
                qs = qs | rule.widens(actor, action, self.model._default_manager.all())
        for rule in self.rules:
            if rule.narrows is not None:
                qs = rule.narrows(actor, action, qs)
        return qs

    def _check_action(self, action: str) -> None:
        if action not in self.actions:
            raise KeyError(f"{self.resource} has no action {action!r}; it has {self.actions}.")


def _is_resource(obj) -> bool:
    return isinstance(obj, (str, type))


_policies: dict[str, Policy] = {}
_by_model: dict[type, Policy] = {}


def register(policy: Policy) -> Policy:
    """Make `policy` the one for its resource (an app's `ready()` calls this once)."""
    _policies[policy.resource] = policy
    if policy.model is not None:
        _by_model[policy.model] = policy
    return policy


def policy_for(what) -> Policy:
    """The policy of a resource name, a model class or a model instance; KeyError if none."""
    if isinstance(what, str):
        return _policies[what]
    model = what if isinstance(what, type) else type(what)
    for klass in model.__mro__:
        if klass in _by_model:
            return _by_model[klass]
    raise KeyError(f"No policy is registered for {model.__name__}.")


def resources() -> tuple[str, ...]:
    return tuple(_policies)


def can(actor, action: str, obj) -> bool:
    return policy_for(obj).can(actor, action, obj)


def visible_to(actor, resource, action: str = READ) -> QuerySet:
    return policy_for(resource).visible_to(actor, action)


def add_rule(resource, rule: Rule) -> Rule:
    """Add `rule` to a resource's policy (what enterprise does); returns it for remove_rule."""
    rules = policy_for(resource).rules
    if rule not in rules:
        rules.append(rule)
    return rule


def remove_rule(resource, rule: Rule) -> None:
    policy_for(resource).rules.remove(rule)


def active(actor) -> bool:
    """Signed in and not suspended; the system actor (workers) counts as active."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return bool(getattr(actor, "is_system", False) or actor.is_active)
