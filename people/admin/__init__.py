from people.admin import imports, signup  # noqa: F401  (registers the admins)
