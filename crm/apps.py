from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        from crm import (
            login_safety,  # noqa: F401 (registers the demo-password system check)
            value_lists,  # noqa: F401 (registers the any_of lookup)
        )
