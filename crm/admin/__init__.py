from crm.admin import jobs, mail_settings, people, site, templates  # noqa: F401  (registers admin pages)
