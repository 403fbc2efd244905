from crm.models.accounts import EmailAccount, OutboundEmailSettings, Security
from crm.models.jobs import JobRun
from crm.models.people import Account, Contact, EmailAddress, Lead, TargetFields, TargetType
from crm.models.templates import EmailTemplate, EmailTemplateAttachment

__all__ = [
    "Account",
    "Contact",
    "EmailAccount",
    "EmailAddress",
    "EmailTemplate",
    "EmailTemplateAttachment",
    "JobRun",
    "Lead",
    "OutboundEmailSettings",
    "Security",
    "TargetFields",
    "TargetType",
]
