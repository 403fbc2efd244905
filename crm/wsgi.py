"""The WSGI application, for gunicorn or any WSGI server.

Once the application and its URLconf (every view, the admin) are loaded, the objects they made
are moved out of the cyclic garbage collector's sight (`gc.freeze`): they live as long as the
process, and a full collection no longer walks them. Under load that shortens the pauses of the
collector's oldest generation from tens of milliseconds (up to about 100 ms on a busy two-core
machine) to two or three, and every thread of the process waits out those pauses, so they set
the slowest requests' latency (bench/README.md, tracking.py).
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 (imports the URLconf and every view now, not later)
gc.collect()
gc.freeze()
