from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns.captured import captured_test_mark
        from crm.captured_mail import register_marker

        register_marker(captured_test_mark)
