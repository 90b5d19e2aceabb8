"""Subscribers, mailing lists, consent and suppressions: the library behind the CLI.

Open a session with :class:`newsletter.db.Database` and call these; they
flush but never commit (``Database.session()`` commits when the block ends)::

    from newsletter.db import Database
    from newsletter import subscribers

    db = Database.from_settings(settings)
    with db.session() as session:
        for person in subscribers.recipients(session, "news"):
            ...

Delivery chooses who gets mail with :func:`recipients` and checks the same
expression (``eligibility.mailable``) again right before sending;
:func:`is_suppressed` asks it for one address. Bounces and complaints call
:func:`suppress`, unsubscribe links call :func:`unsubscribe`.

The names below are imported on first use, so a process that only needs the
light modules (the import's reader process) does not load SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Address": "addresses",
    "AddressError": "addresses",
    "parse_address": "addresses",
    "ImportError_": "errors",
    "SubscriberError": "errors",
    "UnknownList": "errors",
    "UnknownSubscriber": "errors",
    "Reason": "status",
    "Status": "status",
    "create_list": "lists",
    "delete_list": "lists",
    "get_list": "lists",
    "list_summaries": "lists",
    "rename_list": "lists",
    "add_subscriber": "people",
    "edit_subscriber": "people",
    "get_subscriber": "people",
    "iter_subscribers": "listing",
    "recipients": "people",
    "remove_subscriber": "people",
    "unsubscribe": "people",
    "is_suppressed": "suppressions",
    "iter_suppressions": "suppressions",
    "suppress": "suppressions",
    "suppression_for": "suppressions",
    "unsuppress": "suppressions",
}
__all__ = [
    "Address",
    "AddressError",
    "ImportError_",
    "Reason",
    "Status",
    "SubscriberError",
    "UnknownList",
    "UnknownSubscriber",
    "add_subscriber",
    "create_list",
    "delete_list",
    "edit_subscriber",
    "get_list",
    "get_subscriber",
    "is_suppressed",
    "iter_subscribers",
    "iter_suppressions",
    "list_summaries",
    "parse_address",
    "recipients",
    "remove_subscriber",
    "rename_list",
    "suppress",
    "suppression_for",
    "unsubscribe",
    "unsuppress",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from newsletter.subscribers.addresses import Address, AddressError, parse_address
    from newsletter.subscribers.errors import (
        ImportError_,
        SubscriberError,
        UnknownList,
        UnknownSubscriber,
    )
    from newsletter.subscribers.listing import iter_subscribers
    from newsletter.subscribers.lists import (
        create_list,
        delete_list,
        get_list,
        list_summaries,
        rename_list,
    )
    from newsletter.subscribers.people import (
        add_subscriber,
        edit_subscriber,
        get_subscriber,
        recipients,
        remove_subscriber,
        unsubscribe,
    )
    from newsletter.subscribers.status import Reason, Status
    from newsletter.subscribers.suppressions import (
        is_suppressed,
        iter_suppressions,
        suppress,
        suppression_for,
        unsuppress,
    )
