#!/usr/bin/python3
"""django_site.py N CLIENTS: a Django 3.2 site (Debian's python3-django, MySQLdb backend) that
leaves a persistent connection behind in every request thread, and CLIENTS clients sending it N
requests in all.

The site: one view that counts t.items through django.db.connection, CONN_MAX_AGE=600, served
by a threaded WSGI server (socketserver's ThreadingMixIn around wsgiref, a thread per request,
as runserver does). Django's MySQL backend runs SET SESSION TRANSACTION ISOLATION LEVEL READ
COMMITTED on every new connection and never closes one before CONN_MAX_AGE: each request thread
leaves its connection open when it ends, until Python's garbage collector finds it.
Prints requests, errors (responses other than 200, with the first one's text in first_error)
and exits 1 if any request failed.
"""
import os
import sys
import threading
import urllib.error
import urllib.request
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from django.conf import settings

ENV = os.environ
settings.configure(
    DEBUG=False,
    SECRET_KEY="poolshim-test",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={"default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": ENV["PSTEST_DB"], "USER": ENV["PSTEST_USER"],
        "PASSWORD": ENV["PSTEST_PASSWORD"], "HOST": "localhost",
        "OPTIONS": {"unix_socket": ENV["PSTEST_SOCKET"]},
        "CONN_MAX_AGE": 600,
    }},
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after setup)
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


def count_items(request):
    """The view: one query on this thread's persistent connection."""
    with connection.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM items")
        return HttpResponse(str(cur.fetchone()[0]))


urlpatterns = [path("", count_items)]


class ThreadedServer(ThreadingMixIn, WSGIServer):
    """A thread per request, as runserver does."""
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    """No access log on stderr."""

    def log_message(self, *args):
        pass


def client(url, count, results, lock):
    """Sends COUNT requests to URL; appends the failures' texts to RESULTS."""
    for _ in range(count):
        try:
            with urllib.request.urlopen(url, timeout=120) as r:
                r.read()
            failure = None
        except urllib.error.HTTPError as e:
            failure = "%d: %s" % (e.code, e.read()[:300])
        except OSError as e:
            failure = str(e)
        with lock:
            results.append(failure)


def main(argv):
    """Serves the site, runs the clients and returns the exit code."""
    n, clients = (int(argv[0]), int(argv[1])) if len(argv) == 2 else (400, 8)
    httpd = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=ThreadedServer,
                        handler_class=QuietHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % httpd.server_address[1]
    results, lock = [], threading.Lock()
    threads = [threading.Thread(target=client, args=(url, n // clients, results, lock))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    httpd.shutdown()
    failures = [f for f in results if f]
    print("requests=%d\nerrors=%d" % (len(results), len(failures)))
    if failures:
        print("first_error=%s" % failures[0])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
