"""Unknown pages answer in HTML for browsers, JSON under /api/."""

import pytest


@pytest.mark.django_db
def test_an_unknown_page_is_an_html_404_in_the_portals_look(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Page not found" in response.content
    assert b"/no/such/page" in response.content


@pytest.mark.django_db
def test_an_unknown_api_path_stays_json(client):
    response = client.get("/api/v2/no-such-endpoint")
    assert response.status_code == 404
    assert response.json()["message"].startswith("No API endpoint")
