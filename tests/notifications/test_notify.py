"""notify(): what a user receives, once per sender's key, announced live after commit."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from portal import user_events
from portal.notifications import kinds, services
from portal.notifications.models import Notification

pytestmark = pytest.mark.django_db(transaction=True)


def test_renders_the_kind_with_its_context_as_plain_text(make_user):
    alice = make_user()
    sent = services.notify(
        kinds.BUILD_FAILED.name,
        alice,
        context={"workspace": "dev", "transition": "start", "error": "<b>exit 1</b>"},
        link="/@alice/dev",
    )
    assert sent.title == "Start of dev failed"
    # Plain text: the portal escapes it when showing it, so markup stays as written.
    assert sent.body == "The start build of your workspace dev failed: <b>exit 1</b>"
    assert list(alice.notifications.values_list("read_at", flat=True)) == [None]


def test_the_same_key_is_sent_once(make_user):
    alice, bob = make_user(), make_user()
    context = {"username": "alice", "reason": ""}
    assert services.notify("account_suspended", alice, context=context, dedupe_key="s1")
    assert services.notify("account_suspended", alice, context=context, dedupe_key="s1") is None
    # Another user's same key is theirs.
    assert services.notify("account_suspended", bob, context=context, dedupe_key="s1")
    assert Notification.objects.filter(user=alice).count() == 1


def test_an_unknown_kind_is_refused(make_user):
    with pytest.raises(LookupError):
        services.notify("no_such_kind", make_user(), context={})


def test_announced_on_the_users_events_group_after_commit_only(make_user):
    alice = make_user()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_events.group_name(alice.pk), channel)
    context = {"username": "alice", "reason": "left"}
    try:
        with transaction.atomic():
            services.notify("account_suspended", alice, context=context)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert not Notification.objects.filter(user=alice).exists()
    sent = services.notify("account_suspended", alice, context=context)
    message = async_to_sync(layer.receive)(channel)
    assert message["event"] == {"kind": "notification", "notification_id": str(sent.pk)}
