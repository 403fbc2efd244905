from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TargetlistsConfig(AppConfig):
    name = "targetlists"
    verbose_name = _("Target lists")
