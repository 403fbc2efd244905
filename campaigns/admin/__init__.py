from campaigns.admin import campaign, dkim, log, mass_email, settings, templates  # noqa: F401  (registers admin pages)
