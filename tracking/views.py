"""Tracking views. Implemented by the Tracking issue; until then every URL answers 404."""

from django.http import Http404


def _not_built(request, token):
    raise Http404("tracking is not built yet")


open_pixel = click = opt_out = one_click_unsubscribe = subscribe_again = _not_built
