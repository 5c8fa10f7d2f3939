"""gunicorn settings for production: `gunicorn atproject.wsgi` reads this file from the working directory.

Every value can be overridden from the environment (WEB_CONCURRENCY, WEB_THREADS,
PORT, HOST, WEB_TIMEOUT, WEB_KEEPALIVE). The access log names the path only,
never the query string: AT's callback URLs carry the webhook token in it.
"""

import multiprocessing
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Two processes per core, two threads each: on the 2-core benchmark machine more
# only added contention (bench/http_load.py; WEB_CONCURRENCY and WEB_THREADS to tune).
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 2))
# AT waits up to ~15 s for a USSD screen; nothing we serve should take longer.
timeout = int(os.environ.get("WEB_TIMEOUT", 30))
graceful_timeout = 30
# No keep-alive by default: every request is a new connection, taken from the
# listening socket by whichever worker is free. With keep-alive, a connection
# stays with the worker that accepted it, however busy; under a burst of
# callbacks that gave fewer requests/s and a longer tail (bench/http_load.py).
# Behind a proxy, connection reuse towards clients is the proxy's job.
keepalive = int(os.environ.get("WEB_KEEPALIVE", 0))
# The application is loaded once, before the workers are forked: a recycled
# worker (max_requests) is back in milliseconds instead of re-importing Django
# in the middle of a burst. Code changes need a restart, not a HUP.
preload_app = True
max_requests = 10_000  # recycle workers now and then
max_requests_jitter = 1_000

accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
errorlog = "-"
# %(U)s is the path without its query string; %(r)s (the request line) would log ?token=...
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# Control characters in any value (a %0A in the path) are escaped: no forged lines.
logger_class = "atproject.server_logging.SafeAccessLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
