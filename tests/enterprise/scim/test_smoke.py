from tests.enterprise.scim.conftest import user_doc


def test_create_and_get(scim):
    r = scim.post("/Users", user_doc("bjensen@example.com", externalId="e1"))
    assert r.status_code == 201, r.data
    r2 = scim.get(f"/Users/{r.data['id']}")
    assert r2.data["userName"] == "bjensen@example.com"
    r3 = scim.get("/Users", filter='userName eq "BJENSEN@example.com"')
    assert r3.data["totalResults"] == 1, r3.data
