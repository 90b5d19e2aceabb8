"""Campaigns: one issue to one list, snapshotted, sent, and logged per recipient.

The table classes are loaded on first use: ``campaigns show`` and ``log``
read through ``report`` and never need SQLModel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsletter.campaigns.tables import Campaign, CampaignStatus, Delivery, DeliveryStatus

__all__ = ["Campaign", "CampaignStatus", "Delivery", "DeliveryStatus"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from newsletter.campaigns import tables

        return getattr(tables, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
