import os

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the console, API and status pages with gunicorn (threaded WSGI)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=None,
                            help="address:port (default 127.0.0.1:$PORT or 8000)")
        parser.add_argument("--workers", type=int, default=settings.WEB_WORKERS)
        parser.add_argument("--threads", type=int, default=settings.WEB_THREADS)
        parser.add_argument("--certfile", default=settings.TLS_CERT_FILE,
                            help="serve HTTPS with this certificate (PEM)")
        parser.add_argument("--keyfile", default=settings.TLS_KEY_FILE,
                            help="the certificate's private key (PEM)")

    def handle(self, *args, bind, workers, threads, certfile, keyfile, **options):
        from gunicorn.app.base import BaseApplication

        bind = bind or f"{os.environ.get('ATALAIA_HOST', '127.0.0.1')}:" \
                       f"{os.environ.get('PORT', '8000')}"

        class Server(BaseApplication):
            def load_config(self):
                # Live timelines hold one thread per viewer, hence many threads;
                # timeout applies to a silent worker, not to a long stream: each
                # request's own deadline is the watchdog's (atalaia/lib/deadline.py).
                for key, value in {"bind": bind, "workers": workers, "threads": threads,
                                   "worker_class": "gthread", "timeout": 60,
                                   "graceful_timeout": 5, "accesslog": None,
                                   "keepalive": 5}.items():
                    self.cfg.set(key, value)
                if certfile:
                    self.cfg.set("certfile", certfile)
                    self.cfg.set("keyfile", keyfile)

            def load(self):
                # Runs in each worker after the fork: its watchdog is its own thread.
                from atalaia.wsgi import application, deadlines

                deadlines.start_watchdog()
                return application

        Server().run()
