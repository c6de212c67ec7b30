"""A small REST client for /api/v2 that turns every failure into an error a user can act on."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from portal_cli import credentials
from portal_shared.version import __version__

if TYPE_CHECKING:
    import httpx

API_PREFIX = "/api/v2"
PAGE_MAX = 100  # the server's largest page (portal.api.pagination.MAX_LIMIT)
LOGIN_HINT = "not logged in: run `portal login URL` (or set PORTAL_URL and PORTAL_SESSION_TOKEN)"


class CLIError(click.ClickException):
    """An error printed as `error: ...` on stderr, exit code 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class ApiError(CLIError):
    """A 4xx/5xx answer, shown with the server's message, detail and each validation."""

    def __init__(self, status: int, body: dict, hint: str = ""):
        self.status = status
        self.body = body
        lines = [str(body.get("message") or f"the server answered HTTP {status}")]
        if body.get("detail"):
            lines.append(f"  {body['detail']}")
        for item in body.get("validations") or []:
            lines.append(f"  {item.get('field', 'body')}: {item.get('detail', '')}")
        if hint:
            lines.append(f"  {hint}")
        super().__init__("\n".join(lines))


class Client:
    def __init__(self, url: str, token: str = "", *, token_from_env: bool = False):
        self.url = url
        self.token = token
        self.token_from_env = token_from_env
        self._http: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx  # lazily: it costs more than the rest of `portal --help`

            headers = {"User-Agent": f"portal-cli/{__version__}", "Accept": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._http = httpx.Client(
                base_url=self.url + API_PREFIX,
                headers=headers,
                timeout=httpx.Timeout(30.0, connect=10.0),
            )
        return self._http

    def _unauthorized_hint(self, body: dict) -> str:
        text = f"{body.get('message', '')} {body.get('detail', '')}"
        if self.token_from_env:
            return "check PORTAL_SESSION_TOKEN, or unset it and run `portal login URL`"
        if "portal login" in text or not self.token:
            return ""
        return f"run `portal login {self.url}` to sign in again"

    def _redirect_message(self, path: str, location: str) -> str:
        # http -> https, or a moved host: the same API path elsewhere names the right base URL.
        suffix = API_PREFIX + path
        if location.endswith(suffix) and "://" in location:
            return f"{self.url} redirects to {location[: -len(suffix)]}; use that URL instead"
        return f"{self.url} does not look like a Portal server ({suffix} redirects to {location})"

    def send(self, method: str, path: str, **kwargs):
        """The raw httpx response (archives, streams); unreachable servers as a CLIError."""
        import httpx

        try:
            return self._client().request(method, path, **kwargs)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
            raise CLIError(f"{self.url} is not a valid server URL: {e}") from None
        except httpx.TransportError as e:
            reason = str(e) or type(e).__name__
            raise CLIError(f"cannot reach {self.url}: {reason}") from None

    @contextmanager
    def stream(self, method: str, path: str, **kwargs):
        """A streamed httpx response (large downloads, read in chunks), closed on exit."""
        import httpx

        try:
            streamed = self._client().stream(
                method, path, timeout=httpx.Timeout(60.0, connect=10.0), **kwargs
            )
            response = streamed.__enter__()
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
            raise CLIError(f"{self.url} is not a valid server URL: {e}") from None
        except httpx.TransportError as e:
            raise CLIError(f"cannot reach {self.url}: {str(e) or type(e).__name__}") from None
        try:
            yield response
        finally:
            streamed.__exit__(None, None, None)

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None):
        """The decoded JSON answer (None for 204), or a CLIError saying what went wrong."""
        response = self.send(method, path, json=json, params=params)
        if response.status_code == 204:
            return None
        if response.is_redirect:
            raise CLIError(self._redirect_message(path, response.headers.get("location", "")))
        try:
            body = response.json()
        except ValueError:
            raise CLIError(
                f"{self.url}{API_PREFIX}{path} answered HTTP {response.status_code} with "
                "something other than JSON; is this the URL of a Portal server?"
            ) from None
        if response.status_code >= 400:
            if not isinstance(body, dict):
                body = {}
            hint = self._unauthorized_hint(body) if response.status_code == 401 else ""
            raise ApiError(response.status_code, body, hint)
        return body

    def get(self, path: str, **params):
        return self.request("GET", path, params={k: v for k, v in params.items() if v})

    def post(self, path: str, json: Any = None):
        return self.request("POST", path, json=json)

    def put(self, path: str, json: Any = None):
        return self.request("PUT", path, json=json)

    def delete(self, path: str):
        return self.request("DELETE", path)

    def list_all(self, path: str, *, limit: int, **params) -> tuple[list[dict], int]:
        """Up to `limit` rows of a paginated list, page by page; and the server's total count."""
        rows: list[dict] = []
        count = 0
        while len(rows) < limit:
            page = self.get(
                path, **params, limit=min(PAGE_MAX, limit - len(rows)), offset=len(rows)
            )
            rows += page["results"]
            count = page["count"]
            if not page["results"] or len(rows) >= count:
                break
        return rows, count

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def logged_in() -> Client:
    """A client with the saved (or env) URL and token, or an error telling how to log in."""
    creds = credentials.load()
    if not creds.url or not creds.token:
        raise CLIError(LOGIN_HINT)
    return Client(creds.url, creds.token, token_from_env=creds.token_from_env)


def quote(part: str) -> str:
    """One path segment (a username or token name may hold characters URLs reserve)."""
    from urllib.parse import quote as _quote

    return _quote(part, safe="")
