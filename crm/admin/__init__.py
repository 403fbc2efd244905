from crm.admin import jobs, mail_settings, people, templates  # noqa: F401  (registers admin pages)
