"""Subscribers, mailing lists, consent and suppressions: the library behind the CLI.

Open a session with :class:`newsletter.db.Database` and call these; they
flush but never commit (``Database.session()`` commits when the block ends)::

    from newsletter.db import Database
    from newsletter import subscribers

    db = Database.from_settings(settings)
    with db.session() as session:
        for person in subscribers.recipients(session, "news"):
            ...

Delivery must use :func:`recipients` to choose who gets mail, and check
:func:`is_suppressed` again right before sending; bounces and complaints call
:func:`suppress`, unsubscribe links call :func:`unsubscribe`.
"""

from newsletter.models import Reason, Status
from newsletter.subscribers.addresses import Address, AddressError, parse_address
from newsletter.subscribers.errors import (
    ImportError_,
    SubscriberError,
    UnknownList,
    UnknownSubscriber,
)
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
    iter_subscribers,
    recipients,
    remove_subscriber,
    unsubscribe,
)
from newsletter.subscribers.suppressions import (
    is_suppressed,
    iter_suppressions,
    suppress,
    suppression_for,
    unsuppress,
)

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
