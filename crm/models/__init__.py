from crm.models.accounts import EmailAccount, OutboundEmailSettings, Security, SendingMethod
from crm.models.consent import ConsentRecord, SuppressedAddress
from crm.models.events import Event, EventConsumer
from crm.models.jobs import JobRun
from crm.models.people import Account, Contact, EmailAddress, Lead, TargetFields, TargetType
from crm.models.templates import EmailTemplate, EmailTemplateAttachment

__all__ = [
    "Account",
    "ConsentRecord",
    "Contact",
    "EmailAccount",
    "EmailAddress",
    "EmailTemplate",
    "EmailTemplateAttachment",
    "Event",
    "EventConsumer",
    "JobRun",
    "Lead",
    "OutboundEmailSettings",
    "Security",
    "SendingMethod",
    "SuppressedAddress",
    "TargetFields",
    "TargetType",
]
