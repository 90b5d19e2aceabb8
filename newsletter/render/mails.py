"""Mails about a subscription (confirmation, welcome …), rendered from the theme like an issue.

Each kind is a small frozen dataclass registered in :data:`KINDS` under its
name, with a template ``mail/<kind>.mjml.j2`` in the theme. Its content is a
sequence of :data:`Block` values (paragraphs, a button, a link), from which
the plain-text part is built here (wrapped like an issue's, never
HTML-escaped) and which the default templates lay out; an organisation's
``mail/<kind>.mjml.j2`` replaces the default and may use the kind's fields
directly. Adding a kind (as the invitation for imported people and the
reminder were) is one more dataclass here and one more template.

The HTML goes through the issue's pipeline (Jinja2 → MJML → mjml-python →
css-inline) and its ``head.mjml.j2``, so it has the same ``lang``, ``dir``,
viewport, dark mode and fonts. The greeting and the unsubscribe and manage
links are the placeholders ``compose`` fills per recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from newsletter.config import Settings
from newsletter.errors import BadInput
from newsletter.i18n import Locale, get_locale
from newsletter.message.placeholders import GREETING, MANAGE_URL, UNSUBSCRIBE_URL
from newsletter.render import PREHEADER_SPACER
from newsletter.render.colour import readable_on
from newsletter.render.html import Theme, inline_css, mjml_to_html
from newsletter.render.language import direction, fonts_for, is_cjk
from newsletter.render.text import WIDTH
from newsletter.render.wrap import wrap


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: ClassVar[str] = "paragraph"


@dataclass(frozen=True)
class Button:
    """A call to action; the HTML also shows ``hint`` and the address for clients without it."""

    label: str
    url: str
    hint: str | None = None
    kind: ClassVar[str] = "button"


@dataclass(frozen=True)
class Link:
    """``label`` followed by the address, e.g. "The latest issue: https://…"."""

    label: str
    url: str
    kind: ClassVar[str] = "link"


Block = Paragraph | Button | Link


@dataclass(frozen=True)
class SubscriptionMail:
    """What every kind has: its language and the list it is about."""

    language: str
    list_name: str

    kind: ClassVar[str]
    # Goes to a subscriber of the list: List-Unsubscribe headers, the
    # unsubscribe and manage links in the footer, the greeting by name.
    to_subscriber: ClassVar[bool]

    def subject(self, loc: Locale) -> str:
        raise NotImplementedError

    def blocks(self, loc: Locale) -> tuple[Block, ...]:
        raise NotImplementedError

    def preheader(self, loc: Locale) -> str:
        """The inbox preview after the subject; in the HTML part only (hidden there)."""
        raise NotImplementedError

    def why(self, loc: Locale) -> str:
        """Why the reader got this mail: the first line of the footer."""
        key = "mail_why_list" if self.to_subscriber else "mail_why_signup"
        return loc[key].format(list=self.list_name)


KINDS: dict[str, type[SubscriptionMail]] = {}


def kind(cls: type[SubscriptionMail]) -> type[SubscriptionMail]:
    """Register a kind of subscription mail under its ``kind`` name."""
    assert cls.kind not in KINDS, f"two kinds of mail called {cls.kind}"
    KINDS[cls.kind] = cls
    return cls


@kind
@dataclass(frozen=True)
class ConfirmationMail(SubscriptionMail):
    """The double opt-in mail: the link that confirms a sign-up."""

    confirm_url: str
    days: int

    kind: ClassVar[str] = "confirmation"
    to_subscriber: ClassVar[bool] = False

    def subject(self, loc: Locale) -> str:
        return loc["mail_confirm_subject"].format(list=self.list_name)

    def preheader(self, loc: Locale) -> str:
        return loc["mail_confirm_preheader"]

    def blocks(self, loc: Locale) -> tuple[Block, ...]:
        return (
            Paragraph(loc["mail_confirm_text"].format(list=self.list_name)),
            Button(loc["mail_confirm_button"], self.confirm_url, loc["mail_confirm_copy"]),
            Paragraph(loc["mail_confirm_expiry"].format(days=self.days)),
            Paragraph(loc["mail_confirm_ignore"].format(days=self.days)),
        )


@kind
@dataclass(frozen=True)
class InvitationMail(SubscriptionMail):
    """A confirmation mail to someone an administrator imported (``subscribers invite``).

    It says who added the address and why, asks with one button, and says
    what is stored until the click: only what the administrator imported,
    which is deleted after ``expire_days`` without a confirmation (the
    ordinary confirmation's "nothing is stored" would be untrue here).
    """

    organisation: str
    confirm_url: str
    days: int
    expire_days: int
    reason: str | None = None

    kind: ClassVar[str] = "invitation"
    to_subscriber: ClassVar[bool] = False

    def subject(self, loc: Locale) -> str:
        return loc["mail_invite_subject"].format(org=self.organisation, list=self.list_name)

    def preheader(self, loc: Locale) -> str:
        return loc["mail_invite_preheader"]

    def lead(self, loc: Locale) -> tuple[Block, ...]:
        text = Paragraph(loc["mail_invite_text"].format(org=self.organisation, list=self.list_name))
        why = (Paragraph(loc["mail_invite_reason"].format(reason=self.reason)),)
        return (text, *(why if self.reason else ()))

    def ask(self, loc: Locale) -> tuple[Block, ...]:
        return (
            Paragraph(loc["mail_invite_ask"]),
            Button(loc["mail_invite_button"], self.confirm_url, loc["mail_confirm_copy"]),
            Paragraph(loc["mail_confirm_expiry"].format(days=self.days)),
            Paragraph(
                loc["mail_invite_stored"].format(org=self.organisation, expire=self.expire_days)
            ),
        )

    def blocks(self, loc: Locale) -> tuple[Block, ...]:
        return (*self.lead(loc), *self.ask(loc))

    def why(self, loc: Locale) -> str:
        return loc["mail_why_invite"].format(org=self.organisation, list=self.list_name)


@kind
@dataclass(frozen=True)
class ReminderMail(InvitationMail):
    """The one reminder of a sign-up or invitation not confirmed after the list's reminder days.

    An invited person's reminder repeats the invitation (who, why, what is
    stored); a web sign-up's repeats the confirmation. The button is the
    sign-up's own confirmation link either way.
    """

    invited: bool = True

    kind: ClassVar[str] = "reminder"
    to_subscriber: ClassVar[bool] = False

    def subject(self, loc: Locale) -> str:
        return loc["mail_reminder_subject"].format(list=self.list_name)

    def preheader(self, loc: Locale) -> str:
        return loc["mail_reminder_preheader"]

    def blocks(self, loc: Locale) -> tuple[Block, ...]:
        first = Paragraph(loc["mail_reminder_text"].format(list=self.list_name))
        if self.invited:
            return (first, *self.lead(loc), *self.ask(loc))
        return (
            first,
            Paragraph(loc["mail_confirm_text"].format(list=self.list_name)),
            Button(loc["mail_confirm_button"], self.confirm_url, loc["mail_confirm_copy"]),
            Paragraph(loc["mail_confirm_expiry"].format(days=self.days)),
            Paragraph(loc["mail_reminder_ignore"].format(days=self.days)),
        )

    def why(self, loc: Locale) -> str:
        if self.invited:
            return super().why(loc)
        return loc["mail_why_signup"].format(list=self.list_name)


@kind
@dataclass(frozen=True)
class WelcomeMail(SubscriptionMail):
    """A list's welcome mail (``welcome/<list>.yaml``) after the sign-up is confirmed."""

    title: str
    paragraphs: tuple[str, ...]
    latest_url: str | None

    kind: ClassVar[str] = "welcome"
    to_subscriber: ClassVar[bool] = True

    def subject(self, loc: Locale) -> str:
        return self.title

    def preheader(self, loc: Locale) -> str:
        return loc["mail_welcome_preheader"].format(list=self.list_name)

    def blocks(self, loc: Locale) -> tuple[Block, ...]:
        latest = (Link(loc["mail_welcome_latest"], self.latest_url),) if self.latest_url else ()
        return (*(Paragraph(p) for p in self.paragraphs), *latest)


@dataclass(frozen=True)
class RenderedMail:
    """What ``MessageTemplate.build`` takes, like a rendered issue."""

    subject: str
    html: str
    text: str
    language: str


def check_theme(theme: Theme) -> None:
    """Compile the frame and every kind's template now: a broken override stops ``serve`` at
    its start, with file and line, instead of failing each mail when it is sent."""
    for name in ("base", *KINDS):
        theme.template(f"mail/{name}.mjml.j2")


def render_mail(mail: SubscriptionMail, settings: Settings, theme: Theme) -> RenderedMail:
    """Both parts of ``mail`` in the organisation's theme; placeholders for the recipient."""
    loc = get_locale(mail.language)
    org = settings.organisation
    subject = mail.subject(loc)
    blocks = mail.blocks(loc)
    text_dir = direction(mail.language)
    context = {
        "mail": mail,
        "blocks": blocks,
        "subject": subject,
        "preheader": mail.preheader(loc),
        "preheader_spacer": PREHEADER_SPACER,
        "why": mail.why(loc),
        "lang": mail.language,
        # From CLDR, as for an issue; head.mjml.j2 (shared with the issue) reads `direction`,
        # `start` and `end`; `dir` stays for the organisations' mail templates that use it.
        "dir": text_dir,
        "direction": text_dir,
        "start": "right" if text_dir == "rtl" else "left",
        "end": "left" if text_dir == "rtl" else "right",
        "org": org,
        "colours": org.colours,
        "fonts": fonts_for(mail.language),
        "t": loc.strings,
        "on": lambda background: readable_on(background, dark=org.colours.text),
        "greeting": GREETING,
        "to_subscriber": mail.to_subscriber,
        "unsubscribe_url": UNSUBSCRIBE_URL,
        "manage_url": MANAGE_URL,
    }
    name = f"mail/{mail.kind}.mjml.j2"
    source = theme.render_mjml(context, name)
    html = inline_css(mjml_to_html(source))
    if not html.lstrip().lower().startswith("<!doctype html"):
        raise BadInput(f"{name}: the template did not produce an HTML document")
    return RenderedMail(subject, html, mail_text(mail, loc, settings), mail.language)


def mail_text(mail: SubscriptionMail, loc: Locale, settings: Settings) -> str:
    """The plain-text part from the model: wrapped at 78 columns except long URLs."""
    cjk = is_cjk(mail.language)
    out: list[str] = [GREETING, ""]

    def para(text: str) -> None:
        out.extend(wrap(text, WIDTH, cjk=cjk))
        out.append("")

    for block in mail.blocks(loc):
        if isinstance(block, Paragraph):
            para(block.text)
        else:  # the address on a line of its own, so a client can link it whole
            out.extend(wrap(f"{block.label}:" if isinstance(block, Button) else block.label,
                            WIDTH, cjk=cjk))  # fmt: skip
            out.extend([block.url, ""])
    org = settings.organisation
    out.append("-" * WIDTH)
    para(mail.why(loc))
    out.extend(wrap(org.name, WIDTH, cjk=cjk))
    out.extend(wrap(org.postal_address.replace("\n", ", "), WIDTH, cjk=cjk))
    if mail.to_subscriber:  # as in an issue: each address on a line of its own
        out.extend(["", f"{loc['unsubscribe']}:", UNSUBSCRIBE_URL, f"{loc['manage']}:", MANAGE_URL])
    return "\n".join(out) + "\n"
