from campaigns.admin import campaign, log, mass_email, settings  # noqa: F401  (registers admin pages)
