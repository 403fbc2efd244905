from crm.admin import jobs, mail_settings, people, site  # noqa: F401  (registers admin pages)
