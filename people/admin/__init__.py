from people.admin import imports  # noqa: F401  (registers the admins)
