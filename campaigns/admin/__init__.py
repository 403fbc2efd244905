from campaigns.admin import campaign, dkim, log, mass_email, settings  # noqa: F401  (registers admin pages)
