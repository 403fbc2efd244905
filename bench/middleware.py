"""What the security middlewares add to each request: crm.security_headers (the
Content-Security-Policy) and crm.request_checks (NUL refusal), around a view that returns a
small response, against that view alone (the floor), in the same run.

    DJANGO_SETTINGS_MODULE=settings .venv/bin/python bench/middleware.py

Prints the best of 25 rounds of 20,000 calls each, per call, and the difference.
"""

import os
import timeit

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from crm.request_checks import RefuseNulMiddleware  # noqa: E402
from crm.security_headers import ContentSecurityPolicyMiddleware  # noqa: E402


def view(request):
    return HttpResponse(b"GIF89a", content_type="image/gif")


def main() -> None:
    request = RequestFactory().get("/t/c/2n9c-1.Vb3dyM0v2yvVaPqFz9X0Qw/")
    both = ContentSecurityPolicyMiddleware(RefuseNulMiddleware(view))
    csp = ContentSecurityPolicyMiddleware(view)
    runs = {"view alone": lambda: view(request), "+ CSP": lambda: csp(request)}
    runs["+ CSP + NUL check"] = lambda: both(request)
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(25):
        for name, run in runs.items():
            best[name] = min(best[name], timeit.timeit(run, number=20_000) / 20_000)
    floor = best["view alone"]
    for name, seconds in best.items():
        print(f"{name:20} {seconds * 1e6:6.2f} µs   (+{(seconds - floor) * 1e6:.2f} µs)")


if __name__ == "__main__":
    main()
