"""``newsletter.toml``: the organisation profile and delivery settings, as a validated schema.

Secrets never live in this file: the SMTP password and the token key come from
environment variables or from a file readable only by its owner (mode 0600),
so the config can be committed and shared.

Every key is declared once, as a dataclass field made with
:func:`~newsletter.configschema.setting`: its default, the kind of value it
takes (which checks it), one sentence of meaning and an example. Loading checks
every key of the file, collects every problem with its ``file:line`` and
reports them all at once (exit 2); ``docs/configuration.md`` is generated from
the same fields, so the reference cannot drift.

The sections live by concern: :mod:`~newsletter.config.profile` (who sends, how an issue
looks), :mod:`~newsletter.config.sending` (how mail leaves) and
:mod:`~newsletter.config.services` (bounces, the web, workers); this module ties them into
:class:`Settings`, loads the file and reads secrets, and every section class is importable
from here. To add a key: add a field to its section class, e.g.::

    helo_name: str | None = setting(
        None, Host(), "Name sent in EHLO.", example="mail.example.org"
    )

then run ``python scripts/gen_config_reference.py`` and commit
``docs/configuration.md`` (``tests/test_config.py`` fails until you do). A
new section (``[web]``) is a frozen dataclass with a docstring, which the
reference shows, and a ``field(default_factory=Web)`` on :class:`Settings`.
A check that involves two keys goes into :func:`_cross_checks`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

from newsletter import languages, tomlfile

# Colours is re-exported: every section class is importable from newsletter.config
from newsletter.config.profile import Colours as Colours
from newsletter.config.profile import Media, Organisation
from newsletter.config.sending import Delivery, Dkim, Dns, Smtp
from newsletter.config.services import Inbound, Web, Workers
from newsletter.configschema import DatabaseUrl, Problems, build, is_loopback, setting
from newsletter.errors import ConfigError, Problem

CONFIG_ENV = "NEWSLETTER_CONFIG"
DATABASE_ENV = "NEWSLETTER_DATABASE_URL"
DEFAULT_CONFIG = "newsletter.toml"


@dataclass(frozen=True)
class Settings:
    organisation: Organisation = field(default_factory=Organisation)
    delivery: Delivery = field(default_factory=Delivery)
    smtp: Smtp = field(default_factory=Smtp)
    dkim: Dkim = field(default_factory=Dkim)
    inbound: Inbound = field(default_factory=Inbound)
    web: Web = field(default_factory=Web)
    workers: Workers = field(default_factory=Workers)
    media: Media = field(default_factory=Media)
    dns: Dns = field(default_factory=Dns)
    database_url: str = setting(
        "sqlite:///newsletter.sqlite",
        DatabaseUrl(),
        "SQLAlchemy URL of the database; a relative SQLite path is relative to this file. "
        "`--database` and `$NEWSLETTER_DATABASE_URL` override it.",
        example="postgresql://newsletter@db.example.org/newsletter",
        toml="database.url",
        section_doc="Where subscribers, campaigns and the delivery log are kept.",
    )
    source: Path | None = None

    @property
    def base_dir(self) -> Path:
        """Relative paths in the config are relative to the config file."""
        return self.source.parent if self.source else Path.cwd()

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def templates_dir(self) -> Path | None:
        d = self.organisation.templates_dir
        return self.path(d) if d else None


# --- loading -----------------------------------------------------------------------------------


def _cross_checks(s: Settings, problems: Problems) -> None:
    """Checks that involve more than one key."""
    if s.smtp.username and s.smtp.security == "none" and not is_loopback(s.smtp.host):
        problems.add(
            "smtp.security",
            f'"none" would send the password of smtp.username in clear to {s.smtp.host}; '
            'use "starttls" or "tls" (plain text is allowed only to 127.0.0.1 or ::1)',
        )
    languages.use_theme_dir(s.templates_dir)
    if not languages.is_available(s.organisation.language):
        problems.add("organisation.language", languages.unknown_message(s.organisation.language))
    if s.dkim.key_file and not s.dkim.selector:
        problems.add("dkim.selector", "is required with dkim.key_file")


def _sqlite_relative_to(url: str, base: Path) -> str:
    """A relative SQLite path in the config file means: next to the config file.

    Like every other path in the file (outbox, templates, DKIM key), so the
    same config works from any working directory. URLs given on the command
    line or in ``$NEWSLETTER_DATABASE_URL`` stay relative to the current one.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    path = url[len(prefix) :]
    if not path or path.startswith(("/", "~", ":memory:")) or path.startswith("file:"):
        return url
    return prefix + str(base / path)


def parse_settings(text: str, file: str, source: Path | None = None) -> Settings:
    """Settings from a ``newsletter.toml``'s text; all problems in one :class:`ConfigError`."""
    data = tomlfile.load(text, file)
    problems = Problems(file, tomlfile.key_lines(text))
    settings: Settings = build(Settings, data, problems, source=source)
    if source is not None and isinstance(data.get("database"), dict):
        relative = _sqlite_relative_to(settings.database_url, source.parent)
        settings = replace(settings, database_url=relative)
    _cross_checks(settings, problems)
    if problems.found:
        raise ConfigError(problems.found)
    return settings


def _not_utf8(path: Path, exc: UnicodeDecodeError) -> ConfigError:
    """Where the first byte that is not UTF-8 is, and what to do (TOML is UTF-8 only)."""
    before = exc.object[: exc.start]
    line = before.count(b"\n") + 1
    column = exc.start - (before.rfind(b"\n") + 1) + 1
    byte = exc.object[exc.start]
    return ConfigError(
        [
            Problem(
                f"not UTF-8 text (byte 0x{byte:02x}); TOML files are UTF-8: save it as "
                "UTF-8 in your editor, or convert it with iconv -f latin1 -t utf-8",
                file=str(path),
                line=line,
                column=column,
            )
        ]
    )


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from ``path``, ``$NEWSLETTER_CONFIG`` or ``./newsletter.toml``.

    Without any file the embedded defaults apply, so a fresh checkout works.
    ``NEWSLETTER_DATABASE_URL`` overrides the database URL from the file.
    """
    explicit = path is not None or CONFIG_ENV in os.environ
    p = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    if p.exists():
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror or exc}", file=str(p)) from exc
        except UnicodeDecodeError as exc:
            raise _not_utf8(p, exc) from None
        settings = parse_settings(text, str(p), p.resolve())
    elif explicit:
        raise ConfigError("config file not found", file=str(p))
    else:
        settings = Settings()
    env_db = os.environ.get(DATABASE_ENV)
    if env_db:
        settings = replace(settings, database_url=env_db)
    return settings


def read_secret(name: str, *, file_setting: str | None = None) -> str | None:
    """Return the secret from ``$NAME`` or from ``$NAME_FILE`` (which must be mode 0600).

    A secret file readable by group or others is refused rather than used,
    because a leaked SMTP password or token key cannot be taken back.
    """
    value = os.environ.get(name)
    if value:
        return value
    file_name = os.environ.get(f"{name}_FILE") or file_setting
    if not file_name:
        return None
    fp = Path(file_name)
    try:
        mode = fp.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"cannot read secret file: {exc.strerror}", file=str(fp)) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"secret file is readable by others (mode {stat.S_IMODE(mode):o}); run: chmod 600 {fp}",
            file=str(fp),
        )
    return fp.read_text(encoding="utf-8").strip()
