"""The two user groups and the rule for their permissions.

Marketing works with people, templates, target lists and campaigns; it does not see settings,
email accounts, scheduled tasks, or change users; it may look at queues, logs, the job log
and tracking hits. Administrators get everything.
`update_groups` is re-runnable: a later migration that adds models calls it again so the
groups pick up the new permissions (it only adds, never removes).
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import DEFAULT_DB_ALIAS

MARKETING = "Marketing"
ADMINISTRATORS = "Administrators"
ALL_MODELS = "*"

# app label -> model names (or ALL_MODELS) on which Marketing has every permission.
MARKETING_FULL = {
    "crm": {
        "account",
        "contact",
        "lead",
        "emailaddress",
        "emailtemplate",
        "emailtemplateattachment",
    },
    "targetlists": ALL_MODELS,
    "campaigns": {"campaign", "massemail", "trackingurl"},
    "people": ALL_MODELS,  # imports and signup forms
    "automation": ALL_MODELS,  # welcome series and drip sequences
}
# app label -> model names on which Marketing may only look.
MARKETING_VIEW = {
    # The job log: the troubleshooting steps of the user's guide ("did the job run?") are theirs.
    "crm": {"jobrun", "consentrecord", "suppressedaddress"},
    "campaigns": {"emailqueueitem", "campaignlogrecord", "sentemail"},
    "tracking": ALL_MODELS,
    "auth": {"user"},
}


def create_all_permissions(apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the content types and permissions of every app now, not after migrate ends."""
    for app_config in apps.get_app_configs():
        # Historical app configs have no models module; create_permissions skips those.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, verbosity=0, apps=apps, using=using)
        finally:
            app_config.models_module = models_module


def _matches(rule: dict, app_label: str, model: str) -> bool:
    models = rule.get(app_label)
    return models is not None and (models == ALL_MODELS or model in models)


def marketing_permission(app_label: str, model: str, codename: str) -> bool:
    """Whether Marketing holds the permission `codename` on `app_label.model`."""
    if _matches(MARKETING_FULL, app_label, model):
        return True
    return _matches(MARKETING_VIEW, app_label, model) and codename.startswith("view_")


def update_groups(apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the groups if missing and add the permissions the rule gives them."""
    create_all_permissions(apps, using)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    permissions = permission_model.objects.using(using).select_related("content_type")
    marketing, _created = group_model.objects.using(using).get_or_create(name=MARKETING)
    administrators, _created = group_model.objects.using(using).get_or_create(name=ADMINISTRATORS)
    administrators.permissions.add(*permissions)
    marketing.permissions.add(
        *[
            permission
            for permission in permissions
            if marketing_permission(
                permission.content_type.app_label,
                permission.content_type.model,
                permission.codename,
            )
        ]
    )
