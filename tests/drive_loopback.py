"""A stand-in for Google Drive on loopback, reached the way gdown reaches the real one.

gdown asks for https://drive.google.com/drive/folders/ID, then https://drive.google.com/uc?id=FILE per file. Here
an HTTPS proxy (CONNECT) on 127.0.0.1 answers for drive.google.com with a certificate made for the test: point
``https_proxy`` at it and ``REQUESTS_CA_BUNDLE`` at the certificate (``env()``) and gdown runs unchanged. The
folder page carries its listing the way gdown parses it; files honour Range; ``faults[name]`` cuts a transfer
halfway once per entry, 'trickle' sends it a byte at a time. Requests are recorded as (path, Range header).
"""
import json
import os
import socketserver
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

HOST = 'drive.google.com'


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True


class LoopbackDrive(object):

    def __init__(self, folder_id, folder_name, files, workdir):
        self.folder_id, self.folder_name = folder_id, folder_name
        self.files = dict(files)  # {name: bytes}
        self.ids = {'f%04d' % i: name for i, name in enumerate(sorted(self.files))}
        self.faults = {}
        self.requests = []
        self.cert = os.path.join(workdir, 'drive-cert.pem')
        key = os.path.join(workdir, 'drive-key.pem')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', self.cert,
                        '-days', '2', '-subj', '/CN=' + HOST, '-addext', 'subjectAltName=DNS:' + HOST,
                        '-addext', 'basicConstraints=critical,CA:TRUE'], check=True, capture_output=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        drive = self

        class Site(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                drive.requests.append((url.path, self.headers.get('Range')))
                if url.path == '/drive/folders/' + drive.folder_id:
                    body = drive.folder_page().encode()
                    self.send_response(200)
                    self.send_header('Content-Type', 'text/html; charset=utf-8')
                    self.send_header('Content-Length', str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif url.path == '/uc' and parse_qs(url.query).get('id', [''])[0] in drive.ids:
                    self.send_file(drive.ids[parse_qs(url.query)['id'][0]])
                else:
                    self.send_error(404)

            def send_file(self, name):
                body = drive.files[name]
                start = int(self.headers['Range'].split('=')[1].split('-')[0]) if self.headers.get('Range') else 0
                self.send_response(206 if start else 200)
                if start:
                    self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, len(body) - 1, len(body)))
                self.send_header('Content-Type', 'application/octet-stream')
                self.send_header('Content-Disposition', 'attachment; filename="%s"' % name)
                self.send_header('Content-Length', str(len(body) - start))
                self.end_headers()
                queue = drive.faults.get(name) or []
                fault = queue.pop(0) if queue else None
                if fault == 'trickle':  # one byte every 50 ms: each read within any timeout, never done
                    try:
                        for i in range(start, len(body)):
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                            time.sleep(0.05)
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        pass
                    self.close_connection = True
                    return
                if fault == 'cut':
                    self.wfile.write(body[start:start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        class Proxy(socketserver.StreamRequestHandler):
            def handle(self):
                request = self.rfile.readline().decode('latin-1').split()
                while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                    pass
                if request[:2] != ['CONNECT', HOST + ':443']:
                    self.wfile.write(b'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n')
                    return
                self.wfile.write(b'HTTP/1.1 200 Connection established\r\n\r\n')
                self.wfile.flush()
                tls = context.wrap_socket(self.connection, server_side=True)
                Site(tls, self.client_address, self.server)

        self.server = _Server(('127.0.0.1', 0), Proxy)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def folder_page(self):
        """The folder's HTML as gdown parses it: its name in the title, its listing in window['_DRIVE_ivd']."""
        listing = [[[file_id, [self.folder_id], name, 'application/octet-stream']
                    for file_id, name in sorted(self.ids.items())]]
        return ("<html><head><title>%s - Google Drive</title></head><body><script>window['_DRIVE_ivd'] = '%s';"
                "</script></body></html>" % (self.folder_name, json.dumps(listing)))

    def env(self, home):
        """Environment for a process that should reach this Drive (and keep gdown's cookies in ``home``)."""
        env = {name: self.url for name in ('https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY')}
        env.update(no_proxy='', NO_PROXY='', REQUESTS_CA_BUNDLE=self.cert, HOME=home)
        return env

    def close(self):
        self.server.shutdown()
        self.server.server_close()
