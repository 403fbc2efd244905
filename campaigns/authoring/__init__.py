"""Authoring: rendering, slots, MIME, HTML compile, link tracking, DKIM, web view, trial sends."""
