"""The webapp example's server: GET /healthz answers whether this release
is healthy, GET / serves index.html. It listens on 127.0.0.1, on the port
of $WEBAPP_PORT (8000 unless the environment says otherwise; the demo's
supervisord sets it to a free port)."""

import configparser
import http.server
import os

HEALTHY = True  # a broken release says False: its health check fails

settings = configparser.ConfigParser()
settings.read("settings.ini")  # config/<--config>/settings.ini
ENVIRONMENT = settings.get("app", "environment", fallback="unknown")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            status = 200 if HEALTHY else 503
            body = ("ok " if HEALTHY else "not ready ") + ENVIRONMENT + "\n"
        elif self.path == "/":
            status = 200
            with open("index.html") as f:
                body = f.read()
        else:
            status, body = 404, "not found\n"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


port = int(os.environ.get("WEBAPP_PORT", "8000"))
print("webapp (%s) listening on 127.0.0.1:%d" % (ENVIRONMENT, port))
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
