"""``newsletter serve`` and ``newsletter archive build``: the subscriber web.

Both import the web stack (Starlette, uvicorn) inside the command, so
``newsletter --help`` and every other command start without it.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import click

from newsletter.cli.app import App, cli, pass_app
from newsletter.errors import OperationFailed


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=True,
    show_default=True,
    help="Trust X-Forwarded-For/-Proto from --forwarded-allow-ips (the client address "
    "the per-client sign-up limit counts).",
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    metavar="IPS",
    help="Comma-separated proxy addresses whose forwarded headers are trusted ('*' for any).",
)
@click.option("--root-path", default="", metavar="PATH", help="Path prefix the proxy strips.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@pass_app
def serve_cmd(
    app: App,
    host: str,
    port: int,
    proxy_headers: bool,
    forwarded_allow_ips: str,
    root_path: str,
    log_level: str,
) -> None:
    """Serve unsubscribe, preferences, sign-up and the archive (Starlette on uvicorn).

    Every message links here: [delivery] base_url must be the https:// address
    subscribers reach (http:// only for localhost), and the secret key that
    signed the links must be present. Run it behind a reverse proxy that
    terminates TLS and forwards to --host/--port; the access log names routes,
    never tokens or addresses. Routes, proxy snippets: docs/web.md.

    \b
    Examples:
      newsletter serve
      newsletter serve --port 8080 --forwarded-allow-ips 10.0.0.2
      # nginx:  location / { proxy_pass http://127.0.0.1:8000;
      #           proxy_set_header X-Forwarded-For $remote_addr;
      #           proxy_set_header X-Forwarded-Proto $scheme; }
    """
    import uvicorn

    from newsletter.db import Database
    from newsletter.web.app import check_serving, create_app
    from newsletter.workbench.serving import Server, Stopping

    db = Database.from_settings(app.settings, create=False)  # a mistyped path serves nothing
    check_serving(app.settings, db)
    web_app = create_app(app.settings, db)
    sock = _listen(host, port)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"Serving {app.settings.delivery.base_url} on http://{shown}:{port} (Ctrl-C stops)")
    config = uvicorn.Config(
        web_app,
        host=host,
        port=port,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
        root_path=root_path,
        access_log=False,
        server_header=False,
        log_level=log_level,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    # One Ctrl-C or SIGTERM stops it with status 0; a request still running gets
    # SHUTDOWN_GRACE seconds (the server has no response that never ends by itself).
    Server(config, Stopping()).run(sockets=[sock])


SHUTDOWN_GRACE = 1  # seconds a request still running at shutdown gets before it is cancelled


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a port in use is one line and exit 1.

    uvicorn binds on its own only after start-up, logs the error and exits 3.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle off only on sockets that say so
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OperationFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@cli.group("archive")
def archive_group() -> None:
    """The public web archive of sent issues, as static files."""


@archive_group.command("build")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@pass_app
def build_cmd(app: App, out_dir: Path, files: tuple[Path, ...]) -> None:
    """Write the archive into DIR: index, one page per issue edition, Atom feed, sitemap.

    Without FILES the archive holds the issues the database sent, dated by
    their send; with FILES (issue YAML) it holds those, dated by their month.
    DIR is a link to a fresh build folder beside it (.DIR.builds/), swapped in
    one rename, so a static host never serves half an archive or none; the
    build before stays, older ones are deleted. Serve or upload DIR (copy with
    links followed, e.g. rsync -a DIR/ host:…) as <base_url>/archive/.

    \b
    Examples:
      newsletter archive build public/archive
      newsletter archive build public/archive issues/*.yaml
    """
    from newsletter.web.archive import build_site, entries_from_files, write_site
    from newsletter.web.pages import Pages

    drafts: dict[str, bytes] = {}
    if files:
        entries = entries_from_files(files, app.settings)
    else:
        from newsletter.db import Database
        from newsletter.web.archive import entries_from_database, pending_media

        db = Database.from_settings(app.settings, create=False)
        try:
            with db.session() as s:
                entries = entries_from_database(s)
                drafts = pending_media(s, app.settings.delivery.base_url)
        finally:
            db.dispose()
    site = {**drafts, **build_site(entries, Pages(app.settings))}
    write_site(site, out_dir)
    issues = len({e.slug for e in entries})
    editions = f", {len(entries)} editions" if len(entries) != issues else ""
    click.echo(f"Wrote {issues} issue(s){editions} to {out_dir}/ ({len(site)} files).")
