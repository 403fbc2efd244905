from campaigns.models.campaign import Campaign, CampaignStatus, CampaignType, TrackingUrl
from campaigns.models.dkim import DkimKey
from campaigns.models.log import CampaignLogRecord
from campaigns.models.mass_email import DomainDeferral, EmailQueueItem, MassEmail
from campaigns.models.results import (
    CounterWatermark,
    HitCounter,
    LogCounter,
    TailBlock,
    WeeklyCounter,
)
from campaigns.models.sending import SendingRun, SendingSlot, SentMinute
from campaigns.models.sent_email import SentEmail
from campaigns.models.settings import MassEmailSettings
from campaigns.models.variants import MassEmailVariant

__all__ = [
    "Campaign",
    "CampaignLogRecord",
    "CampaignStatus",
    "CampaignType",
    "CounterWatermark",
    "DkimKey",
    "DomainDeferral",
    "EmailQueueItem",
    "HitCounter",
    "LogCounter",
    "MassEmail",
    "MassEmailSettings",
    "MassEmailVariant",
    "SendingRun",
    "SendingSlot",
    "SentMinute",
    "SentEmail",
    "TailBlock",
    "TrackingUrl",
    "WeeklyCounter",
]
