"""``newsletter.toml``: the organisation profile and delivery settings.

Secrets never live in this file: the SMTP password and the token key come from
environment variables or from a file readable only by its owner (mode 0600),
so the config can be committed and shared.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from newsletter.errors import ConfigError, Problem

CONFIG_ENV = "NEWSLETTER_CONFIG"
DEFAULT_CONFIG = "newsletter.toml"


@dataclass(frozen=True)
class Colours:
    primary: str = "#1f4e79"
    accent: str = "#c0392b"
    text: str = "#1a1a1a"
    muted: str = "#5c5c5c"
    background: str = "#f2f4f7"
    surface: str = "#ffffff"


@dataclass(frozen=True)
class Organisation:
    """Who sends the newsletter; every rendered issue carries this in its footer."""

    name: str = "Example Newsletter"
    website: str = "https://example.org"
    sender_name: str = "Example Newsletter"
    sender_email: str = "newsletter@example.org"
    reply_to: str | None = None
    postal_address: str = "Example Street 1, 12345 Example City"
    about: tuple[str, ...] = ()
    contact: tuple[str, ...] = ()
    logo: str | None = None
    logo_alt: str | None = None
    language: str = "en"
    templates_dir: str | None = None
    colours: Colours = field(default_factory=Colours)


@dataclass(frozen=True)
class Delivery:
    transport: str = "maildir"  # smtp | maildir | dry-run
    outbox: str = "outbox"
    base_url: str = "https://newsletter.example.org"
    unsubscribe_mailto: str | None = None
    bounce_domain: str | None = None
    verp: bool = False
    rate_per_second: float | None = None
    rate_per_minute: int | None = None
    rate_per_hour: int | None = None
    max_attempts: int = 5
    retry_base_seconds: float = 60.0


@dataclass(frozen=True)
class Smtp:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # none | starttls | tls
    username: str | None = None
    pool: int = 1
    timeout: float = 30.0
    max_per_connection: int = 1000
    verify_certificates: bool = True
    ca_file: str | None = None


@dataclass(frozen=True)
class Dkim:
    selector: str | None = None
    domain: str | None = None
    key_file: str | None = None


@dataclass(frozen=True)
class Settings:
    organisation: Organisation = field(default_factory=Organisation)
    delivery: Delivery = field(default_factory=Delivery)
    smtp: Smtp = field(default_factory=Smtp)
    dkim: Dkim = field(default_factory=Dkim)
    database_url: str = "sqlite:///newsletter.sqlite"
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


_SECTIONS = {"organisation": Organisation, "delivery": Delivery, "smtp": Smtp, "dkim": Dkim}


def _build(cls: type, data: dict[str, Any], where: str, file: str, problems: list[Problem]) -> Any:
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        f = known.get(key)
        if f is None:
            problems.append(
                Problem(f"unknown key {where}.{key}", file=file, field=f"{where}.{key}")
            )
            continue
        if key == "colours":
            if not isinstance(value, dict):
                problems.append(Problem("must be a table", file=file, field=f"{where}.{key}"))
                continue
            kwargs[key] = _build(Colours, value, f"{where}.{key}", file, problems)
            continue
        if key in ("about", "contact"):
            if isinstance(value, str):
                value = tuple(line for line in value.strip().splitlines())
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = tuple(value)
            else:
                problems.append(
                    Problem("must be text or a list of text", file=file, field=f"{where}.{key}")
                )
                continue
        expected = str(f.type)
        if "int" in expected and "float" not in expected and isinstance(value, bool):
            problems.append(Problem("must be a number", file=file, field=f"{where}.{key}"))
            continue
        if expected.startswith("int") and not isinstance(value, int):
            problems.append(Problem("must be an integer", file=file, field=f"{where}.{key}"))
            continue
        if "float" in expected and not isinstance(value, int | float):
            problems.append(Problem("must be a number", file=file, field=f"{where}.{key}"))
            continue
        if expected.startswith("str") and not isinstance(value, str):
            problems.append(Problem("must be text", file=file, field=f"{where}.{key}"))
            continue
        if expected == "bool" and not isinstance(value, bool):
            problems.append(Problem("must be true or false", file=file, field=f"{where}.{key}"))
            continue
        kwargs[key] = value
    return cls(**kwargs)


def _validate(s: Settings, file: str, problems: list[Problem]) -> None:
    if s.delivery.transport not in ("smtp", "maildir", "dry-run"):
        problems.append(
            Problem("must be smtp, maildir or dry-run", file=file, field="delivery.transport")
        )
    if s.smtp.security not in ("none", "starttls", "tls"):
        problems.append(Problem("must be none, starttls or tls", file=file, field="smtp.security"))
    if s.organisation.language not in ("de", "en", "zh"):
        problems.append(Problem("must be de, en or zh", file=file, field="organisation.language"))
    if s.smtp.pool < 1:
        problems.append(Problem("must be at least 1", file=file, field="smtp.pool"))


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


def load_settings(path: str | Path | None = None) -> Settings:
    """Load settings from ``path``, ``$NEWSLETTER_CONFIG`` or ``./newsletter.toml``.

    Without any file the embedded defaults apply, so a fresh checkout works.
    ``NEWSLETTER_DATABASE_URL`` overrides the database URL from the file.
    """
    explicit = path is not None or CONFIG_ENV in os.environ
    p = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    data: dict[str, Any] = {}
    source: Path | None = None
    if p.exists():
        source = p.resolve()
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", file=str(p)) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read: {exc}", file=str(p)) from exc
    elif explicit:
        raise ConfigError("config file not found", file=str(p))
    problems: list[Problem] = []
    kwargs: dict[str, Any] = {"source": source}
    for key, value in data.items():
        if key == "database":
            if not isinstance(value, dict) or not isinstance(value.get("url", ""), str):
                problems.append(Problem("must be a table with url", file=str(p), field="database"))
            elif "url" in value:
                kwargs["database_url"] = _sqlite_relative_to(value["url"], p.resolve().parent)
            continue
        cls = _SECTIONS.get(key)
        if cls is None:
            problems.append(Problem(f"unknown section [{key}]", file=str(p), field=key))
            continue
        if not isinstance(value, dict):
            problems.append(Problem("must be a table", file=str(p), field=key))
            continue
        kwargs[key] = _build(cls, value, key, str(p), problems)
    if problems:
        raise ConfigError(problems)
    settings = Settings(**kwargs)
    _validate(settings, str(p), problems)
    if problems:
        raise ConfigError(problems)
    env_db = os.environ.get("NEWSLETTER_DATABASE_URL")
    if env_db:
        from dataclasses import replace

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
