"""Routing jobs to workers by tags, and telling users when no provisioner can take a job."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal_shared import queues
from workspaces.builds import dispatch
from workspaces.models import Provisioner, ProvisionerJob


def test_a_worker_serves_the_queue_of_every_subset_of_its_tags():
    served = queues.worker_queues({"region": "eu", "gpu": "yes"})
    assert sorted(served) == sorted(
        [
            "provisioner",
            "provisioner.gpu=yes",
            "provisioner.region=eu",
            "provisioner.gpu=yes+region=eu",
        ]
    )
    # A job's queue is one the matching worker listens on, whatever the order of its tags.
    assert queues.queue_for({"region": "eu", "gpu": "yes"}) in served
    assert queues.queue_for({"region": "us"}) not in served


def test_odd_tag_values_still_give_a_safe_queue_name():
    name = queues.queue_for({"team": "a,b c"})
    assert "," not in name and " " not in name
    assert name == queues.queue_for({"team": "a,b c"})
    assert name != queues.queue_for({"team": "a,b d"})


def test_too_many_worker_tags_are_refused():
    with pytest.raises(ValueError, match="at most"):
        queues.worker_queues({f"k{i}": "v" for i in range(queues.MAX_WORKER_TAGS + 1)})


def test_a_job_no_online_provisioner_matches_says_so_at_once(member):
    user = member
    job = ProvisionerJob.objects.create(
        type="workspace_build", initiator=user, tags={"region": "eu"}
    )
    Provisioner.objects.create(id="w1", tags={"region": "us"})
    Provisioner.objects.create(
        id="w2", tags={"region": "eu"}, last_seen_at=timezone.now() - timedelta(minutes=5)
    )
    assert dispatch.note_if_unmatched(job.id)
    job.refresh_from_db()
    assert job.status_reason == (
        "No online provisioner has the tags region=eu (online: 1 with region=us); "
        "the job waits until one connects."
    )

    Provisioner.objects.filter(id="w2").update(last_seen_at=timezone.now())
    assert not dispatch.note_if_unmatched(job.id)
    job.refresh_from_db()
    assert job.status_reason == ""
