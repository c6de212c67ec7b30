"""What identity providers send, as their documentation shows it.

Entra ID: "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID"
(learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups),
its request examples with only the ids made ours. Okta: "SCIM 2.0 protocol reference"
(developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20).
"""

from __future__ import annotations

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def entra_create_user(user_name: str, external_id: str) -> dict:
    return {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": "givenName familyName",
            "familyName": "familyName",
            "givenName": "givenName",
        },
        "roles": [],
    }


def entra_update_multi_valued(email: str) -> dict:
    return {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": email},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ],
    }


def entra_update_user_name(user_name: str) -> dict:
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Replace", "path": "userName", "value": user_name}],
    }


def entra_disable(value="False") -> dict:
    # Before its 2020 SCIM compliance fixes (still the default for many apps) Entra sends the
    # boolean as a string, with a capitalised op.
    return {
        "Operations": [{"op": "Replace", "path": "active", "value": value}],
        "schemas": [PATCH_OP],
    }


def entra_create_group(display_name: str, external_id: str) -> dict:
    return {
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:Group",
            "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group",
        ],
        "externalId": external_id,
        "displayName": display_name,
        "meta": {"resourceType": "Group"},
    }


def entra_add_members(ids) -> dict:
    return {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": i} for i in ids]}
        ],
    }


def entra_remove_members(ids) -> dict:
    return {
        "schemas": [PATCH_OP],
        "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": i} for i in ids]}
        ],
    }


def entra_rename_group(display_name: str) -> dict:
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "Replace", "path": "displayName", "value": display_name}],
    }


def okta_put_user(
    user_id: str, user_name: str, given: str, family: str, active: bool = True
) -> dict:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": user_id,
        "userName": user_name,
        "name": {"givenName": given, "middleName": "", "familyName": family},
        "emails": [{"primary": True, "value": user_name, "type": "work", "display": user_name}],
        "active": active,
        "groups": [],
        "meta": {"resourceType": "User"},
    }


def okta_set_active(active: bool) -> dict:
    return {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": active}}]}


def okta_rename_group(group_id: str, display_name: str) -> dict:
    return {
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "value": {"id": group_id, "displayName": display_name}}],
    }
