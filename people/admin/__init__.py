from people.admin import imports, privacy, signup  # noqa: F401  (registers the admins)
