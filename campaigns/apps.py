from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns.authoring.captured import captured_test_mark
        from campaigns.models.tracking_codes import check_codes_exist
        from crm.captured_mail import register_marker
        from crm.models.templates import register_template_check

        register_marker(captured_test_mark)
        register_template_check(check_codes_exist)
