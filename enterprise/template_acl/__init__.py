"""Template access control: per-template ACLs of users and groups, enforced by the policy."""
