"""Segments: a small expression language that picks subscribers, compiled to SQL.

::

    language = 'zh' and tag = 'member' and subscribed_before = 2021-01-01
    not list = 'press' or (attr.city in ('Köln', 'Bonn') and soft_bounces < 2)

``and`` binds tighter than ``or``; ``not`` and parentheses work as usual.
A condition is ``FIELD OP VALUE`` or ``FIELD in (VALUE, …)``; the fields:

==========================  ==================  ===========================================
field                       operators           matches
==========================  ==================  ===========================================
``language``                ``= != in``         the person's language (``'zh'`` also
                                                matches ``zh-Hans``)
``tag``                     ``= != in``         a tag among ``attributes.tags`` (imported
                                                Mailchimp tags)
``attr.NAME``               ``= != in``         the attribute ``NAME``, compared as text
``list``                    ``= != in``         a confirmed subscription to that list
``subscribed``,             ``= != < <= > >=``  the day the subscription (to the campaign's
``confirmed``                                   list) was made / confirmed, ``YYYY-MM-DD``
``subscribed_before`` …     ``=``               ``subscribed < D``; ``_after``: ``>= D``
``soft_bounces``            ``= != < <= > >=``  scored soft bounces of the last 90 days
                                                that were not undone
==========================  ==================  ===========================================

Values are literals only: ``'text'`` (``''`` for a quote), numbers and
dates. The parser builds SQLAlchemy expressions, so every value reaches the
database as a bound parameter and nothing typed here is ever SQL; the same
expression selects the same people on SQLite and PostgreSQL. Errors name
the column of the expression they are at (:class:`SegmentError`, exit 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from newsletter.db.columns import UTCDateTime, utcnow
from newsletter.errors import BadInput, Problem
from newsletter.subscribers.status import Status
from newsletter.subscribers.tables import MailingList, Subscriber, Subscription

SUBSCRIBER = Subscriber.__table__  # type: ignore[attr-defined]
SUBSCRIPTION = Subscription.__table__  # type: ignore[attr-defined]
# The bounce log belongs to newsletter.inbound, a floor above this one: only its
# columns are named here, so a segment can count bounces without importing it.
BOUNCE = sa.table(
    "bounce",
    sa.column("key_hash"),
    sa.column("scored", sa.Boolean),
    sa.column("undone_at", UTCDateTime),
    sa.column("received_at", UTCDateTime),
)
BOUNCE_DAYS = 90
MAX_LENGTH = 2000

TEXT_FIELDS = ("language", "tag", "list")
DATE_FIELDS = {"subscribed": "created_at", "confirmed": "confirmed_at"}
NUMBER_FIELDS = ("soft_bounces",)
FIELDS = (*TEXT_FIELDS, "attr.NAME", *DATE_FIELDS, "subscribed_before", "subscribed_after",
          "confirmed_before", "confirmed_after", *NUMBER_FIELDS)  # fmt: skip
ORDER = ("=", "!=", "<", "<=", ">", ">=")
TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<string>'(?:[^']|'')*')|(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|=|<|>)|(?P<punct>[(),])"
    r"|(?P<word>[^\W\d]\w*(?:\.[\w-]+)?)"
)
LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


class SegmentError(BadInput):
    """An expression that cannot be parsed or means nothing; names its column."""

    def __init__(self, message: str, text: str, column: int, *, source: str = "--where"):
        shown = text.replace("\n", " ")
        pointer = f"\n  {shown}\n  {' ' * (column - 1)}^"
        super().__init__([Problem(message + pointer, file=source, line=1, column=column)])


@dataclass(frozen=True)
class Token:
    kind: str  # string | date | number | op | punct | word | end
    text: str
    column: int  # 1-based

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def tokenize(text: str, source: str = "--where") -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise SegmentError(f"longer than {MAX_LENGTH} characters", text, 1, source=source)
    tokens, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if m is None:
            what = "unterminated 'text'" if text[pos] == "'" else f"unexpected {text[pos]!r}"
            raise SegmentError(what, text, pos + 1, source=source)
        if m.lastgroup != "space":
            tokens.append(Token(m.lastgroup or "", m.group(), pos + 1))
        pos = m.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


class Compiler:
    """A recursive-descent parser that returns the SQL condition as it parses.

    The condition is over ``subscriber`` joined to ``subscription`` (the row
    of the list being sent to), as :func:`newsletter.subscribers.people.recipients`
    queries them. ``lists`` maps every list slug to its id, so an unknown
    list is an error at its column rather than a segment matching nobody.
    """

    def __init__(self, text: str, dialect: str, lists: dict[str, int], source: str = "--where"):
        self.text, self.dialect, self.lists, self.source = text, dialect, lists, source
        self.tokens = tokenize(text, source)
        self.i = 0
        self.now = utcnow()

    def fail(self, message: str, token: Token) -> SegmentError:
        return SegmentError(message, self.text, token.column, source=self.source)

    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> Token:
        token = self.take()
        if token.text.lower() != text:
            found = "the end" if token.kind == "end" else repr(token.text)
            raise self.fail(f"expected {text!r}, found {found}", token)
        return token

    def compile(self) -> sa.ColumnElement[bool]:
        if self.peek.kind == "end":
            raise self.fail("empty expression; e.g. language = 'de'", self.peek)
        condition = self.disjunction()
        if self.peek.kind != "end":
            raise self.fail(f"expected 'and', 'or' or the end, found {self.peek.text!r}", self.peek)
        return condition

    def disjunction(self) -> sa.ColumnElement[bool]:
        parts = [self.conjunction()]
        while self.peek.word == "or":
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else sa.or_(*parts)

    def conjunction(self) -> sa.ColumnElement[bool]:
        parts = [self.negation()]
        while self.peek.word == "and":
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else sa.and_(*parts)

    def negation(self) -> sa.ColumnElement[bool]:
        if self.peek.word == "not":
            self.take()
            return sa.not_(self.negation())
        if self.peek.text == "(":
            self.take()
            inner = self.disjunction()
            self.expect(")")
            return inner
        return self.condition()

    def condition(self) -> sa.ColumnElement[bool]:
        field = self.take()
        name = field.word
        if field.kind != "word" or name in ("and", "or", "not", "in"):
            found = "the end" if field.kind == "end" else repr(field.text)
            raise self.fail(f"expected a field ({', '.join(FIELDS)}), found {found}", field)
        if not (name in TEXT_FIELDS or name in DATE_FIELDS or name in NUMBER_FIELDS
                or name.startswith("attr.") or name.endswith(("_before", "_after"))):  # fmt: skip
            raise self.fail(f"unknown field {field.text!r}; fields: {', '.join(FIELDS)}", field)
        op = self.take()
        if op.word == "in":
            if name not in TEXT_FIELDS and not name.startswith("attr."):
                raise self.fail(f"'in' works with text fields, not {name}", op)
            self.expect("(")
            values = [self.value(name)]
            while self.peek.text == ",":
                self.take()
                values.append(self.value(name))
            self.expect(")")
            return sa.or_(*(self.match(name, v, field) for v, _ in values))
        if op.kind != "op":
            raise self.fail(f"expected an operator (= != < <= > >= in) after {name}", op)
        value, at = self.value(name)
        if name.endswith(("_before", "_after")):
            if op.text != "=":
                raise self.fail(f"{name} takes '=' and a date, e.g. {name} = 2021-01-01", op)
            base, _, side = name.rpartition("_")
            return self.compare(base, "<" if side == "before" else ">=", value)
        if name in DATE_FIELDS or name in NUMBER_FIELDS:
            return self.compare(name, op.text, value)
        if op.text not in ("=", "!="):
            raise self.fail(f"{name} takes = != or in, not {op.text}", op)
        positive = self.match(name, value, field, at)
        return positive if op.text == "=" else sa.not_(positive)

    def value(self, name: str) -> tuple[Any, Token]:
        token = self.take()
        base = name.rpartition("_")[0] if name.endswith(("_before", "_after")) else name
        if base in DATE_FIELDS:
            if token.kind != "date":
                raise self.fail(f"{name} needs a date YYYY-MM-DD", token)
            try:
                day = date.fromisoformat(token.text)
            except ValueError:
                raise self.fail(f"{token.text} is not a date", token) from None
            return datetime(day.year, day.month, day.day, tzinfo=UTC), token
        if base in NUMBER_FIELDS:
            if token.kind != "number":
                raise self.fail(f"{name} needs a number", token)
            return float(token.text), token
        if token.kind != "string":
            raise self.fail(f"{name} needs a 'quoted' value", token)
        text = token.text[1:-1].replace("''", "'")
        if name == "language" and not LANGUAGE.fullmatch(text):
            raise self.fail(f"{text!r} is not a language code like 'de' or 'zh-Hans'", token)
        if name == "list" and text not in self.lists:
            known = ", ".join(sorted(self.lists)) or "none"
            raise self.fail(f"unknown list {text!r}; lists: {known}", token)
        return text, token

    def match(self, name: str, value: Any, field: Token, at: Token | None = None) -> Any:
        """The null-safe positive test: its negation also holds where the field is empty."""
        c = SUBSCRIBER.c
        if name == "language":
            return sa.and_(
                c.language.is_not(None), sa.or_(c.language == value, c.language.like(value + "-%"))
            )
        if name == "tag":
            tags = self._tags()
            return sa.exists(
                sa.select(sa.literal(1)).select_from(tags).where(tags.c.value == value)
            )
        if name == "list":
            other = SUBSCRIPTION.alias("segment_list")
            return sa.exists().where(
                other.c.subscriber_id == c.id,
                other.c.list_id == self.lists[value],
                other.c.status == Status.CONFIRMED.value,
            )
        key = name.partition(".")[2]
        attribute = c.attributes[key].as_string()
        return sa.and_(attribute.is_not(None), attribute == value)

    def _tags(self) -> Any:
        tags = SUBSCRIBER.c.attributes["tags"]
        if self.dialect == "postgresql":
            array = sa.case(
                (sa.func.json_typeof(tags) == "array", tags), else_=sa.func.json_build_array()
            )
            return sa.func.json_array_elements_text(array).table_valued("value")
        # json_each of a scalar yields the scalar: only an array holds tags, as on PostgreSQL.
        tags_json = sa.func.json_extract(SUBSCRIBER.c.attributes, "$.tags")
        array = sa.case(
            (sa.func.json_type(SUBSCRIBER.c.attributes, "$.tags") == "array", tags_json),
            else_="[]",
        )
        return sa.func.json_each(array).table_valued("value")

    def compare(self, name: str, op: str, value: Any) -> Any:
        if name in DATE_FIELDS:
            return self.on_day(SUBSCRIPTION.c[DATE_FIELDS[name]], op, value)
        column = (
            sa.select(sa.func.count())
            .select_from(BOUNCE)
            .where(
                BOUNCE.c.key_hash == SUBSCRIBER.c.key_hash,
                BOUNCE.c.scored.is_(True),
                BOUNCE.c.undone_at.is_(None),
                BOUNCE.c.received_at > self.now - timedelta(days=BOUNCE_DAYS),
            )
            .scalar_subquery()
        )
        return {
            "=": column == value, "!=": column != value, "<": column < value,
            "<=": column <= value, ">": column > value, ">=": column >= value,
        }[op]  # fmt: skip

    @staticmethod
    def on_day(column: Any, op: str, day: datetime) -> Any:
        """A date compares whole days (UTC): ``= D`` is any time on D, ``> D`` from D + 1."""
        after = day + timedelta(days=1)
        return {
            "=": sa.and_(column >= day, column < after),
            "!=": sa.or_(column.is_(None), column < day, column >= after),
            "<": column < day, "<=": column < after, ">": column >= after, ">=": column >= day,
        }[op]  # fmt: skip


def compile_where(
    connection: sa.Connection, text: str, *, source: str = "--where"
) -> sa.ColumnElement[bool]:
    """The SQL condition of ``text`` for ``connection``'s database; ``SegmentError`` if bad."""
    rows = connection.execute(sa.select(MailingList.slug, MailingList.id)).all()  # type: ignore[call-overload]
    lists = {slug: list_id for slug, list_id in rows}
    return Compiler(text, connection.dialect.name, lists, source).compile()
