"""`portal login`, `portal logout` and `portal whoami`."""

from __future__ import annotations

import sys

import click

from portal_cli import browser_login, credentials
from portal_cli.client import ApiError, Client, CLIError, logged_in
from portal_cli.output import output_option, print_json, print_table


def read_password_stdin() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.UsageError("--password-stdin was given but stdin held no password.")
    return password


def _ask(value: str | None, *, label: str, flag: str, hide: bool = False) -> str:
    """The flag's value, else a prompt on a terminal, else an error naming the flag."""
    if value:
        return value
    if not sys.stdin.isatty():
        raise click.UsageError(f"no {label.lower()} given and no terminal to ask on: pass {flag}.")
    return click.prompt(label, hide_input=hide)


def _check_server(client: Client) -> None:
    try:
        info = client.get("/buildinfo")
    except ApiError as e:
        raise CLIError(
            f"{client.url} does not look like a Portal server "
            f"(GET {client.url}/api/v2/buildinfo answered HTTP {e.status})"
        ) from None
    if not isinstance(info, dict) or "version" not in info:
        raise CLIError(f"{client.url} does not look like a Portal server")


def _warn_overrides(url: str) -> None:
    env = credentials.load()
    if env.token_from_env:
        click.echo(
            f"warning: {credentials.TOKEN_ENV} is set and overrides the saved session; "
            "unset it to use this login.",
            err=True,
        )
    if env.url_from_env and env.url != url:
        click.echo(
            f"warning: {credentials.URL_ENV}={env.url} overrides the saved URL; unset it to use "
            "this login.",
            err=True,
        )


@click.command()
@click.argument("url", required=False)
@click.option("-u", "--username", help="Username or email (prompted for on a terminal).")
@click.option("-p", "--password", help="Password (prompted for on a terminal).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin's first line.")
@click.option("-t", "--token", help="Log in with an existing API token instead of a password.")
@click.option(
    "--no-open", is_flag=True, help="Browser sign-in: print the page's URL instead of opening it."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300,
    show_default=True,
    help="Browser sign-in: seconds to wait for the browser (or a pasted token).",
)
def login(
    url: str | None,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    token: str | None,
    no_open: bool,
    timeout: float,
) -> None:
    """Log in to the server at URL and save the session.

    Without --username, --password or --token it signs in through the browser: the page
    (<URL>/cli-auth, signed in with a password or single sign-on) hands this CLI a token named
    "cli (<this host>)"; where the browser cannot reach this machine, paste the token it shows.

    The URL and session token are kept in ~/.config/portal/ (or $XDG_CONFIG_HOME/portal/),
    readable only by you. PORTAL_URL and PORTAL_SESSION_TOKEN take precedence over them.
    """
    if token and (username or password or password_stdin):
        raise click.UsageError("give either --token or --username/--password, not both.")
    if password and password_stdin:
        raise click.UsageError("give either --password or --password-stdin, not both.")
    url = credentials.normalize_url(url or credentials.load().url)
    if not url:
        raise click.UsageError(
            "which server? Run `portal login URL`, e.g. https://portal.example.com"
        )

    browser = not (token or username or password or password_stdin)
    with Client(url, token or "") as client:
        _check_server(client)
        if browser:
            token = browser_login.obtain_token(url, open_browser=not no_open, timeout=timeout)
        if token:
            user = _check_token(url, token)
            session = token
        else:
            username = _ask(username, label="Username", flag="--username")
            if password_stdin:
                password = read_password_stdin()
            password = _ask(
                password, label="Password", flag="--password or --password-stdin", hide=True
            )
            answer = _password_login(client, url, username, password)
            user, session = answer["user"], answer["session_token"]

    credentials.save(url, session)
    click.echo(f"Logged in as {user['username']} at {url}")
    if user.get("must_change_password"):
        _change_one_time_password(url, session, password)
    _warn_overrides(url)


def _change_one_time_password(url: str, session: str, once: str | None) -> None:
    """Signed in with a one-time password: on a terminal, choose the new one right away."""
    if not once or not sys.stdin.isatty():
        click.echo(
            "You signed in with a one-time password: choose your own now with "
            "`portal users password` (until then nothing else works).",
            err=True,
        )
        return
    click.echo("You signed in with a one-time password; choose your own to continue.")
    while True:
        new = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        with Client(url, session) as client:
            try:
                client.put("/users/me/password", {"old_password": once, "password": new})
            except ApiError as e:
                if e.status != 400:
                    raise
                click.echo(f"error: {e.format_message()}", err=True)
                continue
        click.echo("Password changed.")
        return


def _check_token(url: str, token: str) -> dict:
    with Client(url, token) as client:
        try:
            return client.get("/users/me")
        except ApiError as e:
            raise CLIError(f"{url} did not accept the token: {e.format_message()}") from None


def _password_login(client: Client, url: str, username: str, password: str) -> dict:
    try:
        return client.post("/users/login", {"login": username, "password": password})
    except ApiError as e:
        if e.status == 403 and "Password sign-in is turned off" in str(e.body.get("message")):
            raise CLIError(
                f"{e.body['message']}\n  Run `portal login {url}` without --username to sign "
                "in through the browser."
            ) from None
        raise


@click.command()
def logout() -> None:
    """End the session on the server and forget the saved credentials."""
    creds = credentials.load()
    if not creds.token:
        click.echo("Not logged in; nothing to do.")
        return
    if creds.url:
        with Client(creds.url, creds.token, token_from_env=creds.token_from_env) as client:
            try:
                client.post("/users/logout")
            except CLIError as e:
                reason = e.format_message().splitlines()[0]
                click.echo(
                    f"warning: could not end the session on the server ({reason}); "
                    "forgetting it on this machine anyway.",
                    err=True,
                )
    credentials.forget()
    click.echo(f"Logged out{f' of {creds.url}' if creds.url else ''}.")
    if creds.token_from_env:
        click.echo(f"warning: {credentials.TOKEN_ENV} is still set; unset it too.", err=True)


@click.command()
@output_option
def whoami(output: str) -> None:
    """Show who you are logged in as, and where."""
    with logged_in() as client:
        user = client.get("/users/me")
    if output == "json":
        print_json({**user, "url": client.url})
        return
    print_table(
        ["USERNAME", "EMAIL", "ROLES", "URL"],
        [[user["username"], user["email"], ", ".join(user["roles"]), client.url]],
    )


COMMANDS = (login, logout, whoami)
