from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrackingConfig(AppConfig):
    name = "tracking"
    verbose_name = _("Tracking")

    def ready(self) -> None:
        from campaigns.results.statistics import register_human_counter
        from tracking import esp  # noqa: F401 (connects the ESP webhooks' signal receiver)
        from tracking.classification import human_figures

        register_human_counter(human_figures)
