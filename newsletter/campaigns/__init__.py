"""Campaigns: one issue to one list, snapshotted, sent, and logged per recipient."""

from newsletter.campaigns.tables import Campaign, CampaignStatus, Delivery, DeliveryStatus

__all__ = ["Campaign", "CampaignStatus", "Delivery", "DeliveryStatus"]
