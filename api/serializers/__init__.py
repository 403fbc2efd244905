"""Serializers of the API, one module per resource family: thin, the rules are the apps'."""
