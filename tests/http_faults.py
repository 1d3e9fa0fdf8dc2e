"""A real HTTP server on loopback that serves test files and misbehaves on request (fault injection)."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultyServer(object):
    """Serves ``files`` ({url path: bytes}). ``faults[path]`` is a list consumed one per request:
    'cut' (half the body, then the connection closes), 'ignore_range' (200 with the whole file),
    'corrupt' (other bytes of the same length), 'slow' (stall longer than the client's timeout), 'trickle' (one
    byte every ``trickle_gap`` seconds: each read within any timeout, the file never done), 'trickle_headers' (the
    status line and headers one byte every ``trickle_gap`` seconds, the body never reached), or an HTTP
    status code (404, 500, ...). Requests are recorded as (path, Range header)."""

    def __init__(self, files, stall=3.0, trickle_gap=0.05):
        self.files = dict(files)
        self.faults = {}
        self.requests = []
        self.stall = stall
        self.trickle_gap = trickle_gap
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def trickle(self, data):
                """One byte every trickle_gap seconds, then the connection closes."""
                try:
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        self.wfile.flush()
                        time.sleep(server.trickle_gap)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def do_GET(self):
                server.requests.append((self.path, self.headers.get('Range')))
                queue = server.faults.get(self.path) or []
                fault = queue.pop(0) if queue else None
                if isinstance(fault, int) or self.path not in server.files:
                    self.send_error(fault if isinstance(fault, int) else 404)
                    return
                body = server.files[self.path]
                if fault == 'trickle_headers':
                    self.trickle(('HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Padding: %s\r\n\r\n'
                                  % (len(body), 'x' * 4000)).encode())
                    return
                if fault == 'corrupt':
                    body = bytes(255 - b for b in body)
                start = 0
                rng = self.headers.get('Range')
                if rng and fault != 'ignore_range':
                    start = int(rng.split('=')[1].split('-')[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header('Content-Range', 'bytes */%d' % len(body))
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(body) - 1, len(body)))
                else:
                    self.send_response(200)
                self.send_header('Content-Length', str(len(body) - start))
                self.send_header('Accept-Ranges', 'bytes')
                self.end_headers()
                if fault == 'slow':
                    time.sleep(server.stall)
                payload = body[start:]
                if fault == 'trickle':
                    self.trickle(payload)
                    return
                if fault == 'cut':
                    self.wfile.write(payload[:len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
