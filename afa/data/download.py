"""Resumable, verified HTTP downloads (standard library only, so that it runs in every environment).

- A download is written to ``DEST.part`` and renamed to ``DEST`` only after its checksum matched: the final
  name never holds half a file.
- A ``.part`` left by an interrupted run is resumed with an HTTP Range request; a server that ignores Range
  (answers 200) restarts it from zero.
- Timeouts, dropped connections and 5xx answers are retried with exponential back-off; 403/404 (and other 4xx)
  fail at once with the URL in the message.
- A checksum mismatch discards that download only and fetches once more before failing.
- Every wait ends: the status line and headers must arrive within ``timeout`` seconds in all (a server sending
  them a byte at a time keeps every read inside a socket timeout: _HeaderDeadline), then the body must keep
  ``MIN_RATE`` over each ``timeout`` window (_Pace).
"""
import http.client
import os
import socket
import sys
import threading
import time

from urllib.error import HTTPError, URLError
from urllib.request import HTTPHandler, HTTPSHandler, Request, build_opener

from afa.utils.errors import AfaError
from afa.utils.hashing import file_digest

CHUNK = 1 << 20
# The least average speed (bytes per second) over each ``timeout`` window: a server trickling bytes (each read
# within the socket timeout, the file never done) counts as a stall and is retried, then given up.
MIN_RATE = 1024


class DownloadError(AfaError):
    """A file could not be fetched or verified."""


def checksum_ok(path, checksum):
    """``checksum`` is 'ALGO:HEX' (sha256, md5, sha1); a HEX shorter than the digest is a prefix (torch.hub's
    file-name convention)."""
    if not checksum:
        return True
    algorithm, _, expected = checksum.partition(':')
    return file_digest(path, algorithm).startswith(expected.lower())


class _Progress(object):
    """tqdm when it is installed and the output is a terminal or a log; plain lines otherwise."""

    def __init__(self, name, total, initial, enabled):
        self.bar = None
        if not enabled:
            return
        try:
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=initial, unit='B', unit_scale=True, unit_divisor=1024,
                            desc=name, mininterval=1.0, file=sys.stderr)
        except ImportError:
            self.bar = None

    def update(self, n):
        if self.bar is not None:
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class _HeaderDeadline(object):
    """Ends the wait for a response's status line and headers after ``seconds`` in all: the sockets opened for
    it (redirects included) are shut down when the time is up, which ends a read that is waiting."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.sockets = []
        self.expired = False
        self.lock = threading.Lock()
        self.timer = threading.Timer(seconds, self._expire)
        self.timer.daemon = True

    def watch(self, sock):
        with self.lock:
            self.sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self):
        with self.lock:
            self.expired = True
            for sock in self.sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def opener(self):
        deadline = self

        def watched(base):
            class Connection(base):
                def connect(self):
                    base.connect(self)
                    deadline.watch(self.sock)
            return Connection

        class Http(HTTPHandler):
            def http_open(self, req):
                return self.do_open(watched(http.client.HTTPConnection), req)

        class Https(HTTPSHandler):
            def https_open(self, req):
                return self.do_open(watched(http.client.HTTPSConnection), req, context=self._context)
        return build_opener(Http(), Https())


def _open(url, start, timeout):
    """The response to a GET of ``url`` from byte ``start``, its headers received within ``timeout`` seconds in
    all (socket.timeout otherwise); the body's reads are left to the socket timeout and _Pace."""
    headers = {'User-Agent': 'afa-reproduction/0.1'}
    if start:
        headers['Range'] = 'bytes=%d-' % start
    deadline = _HeaderDeadline(timeout)
    deadline.timer.start()
    try:
        response = deadline.opener().open(Request(url, headers=headers), timeout=timeout)
    except HTTPError:
        if deadline.expired:
            raise socket.timeout(_late_headers(timeout)) from None
        raise
    except (OSError, http.client.HTTPException) as e:
        if deadline.expired:
            raise socket.timeout(_late_headers(timeout)) from None
        if isinstance(e, http.client.HTTPException):
            raise ConnectionError('%s: %s' % (type(e).__name__, e)) from None
        raise
    finally:
        deadline.timer.cancel()
    with deadline.lock:
        late = deadline.expired
    if late:  # the headers were cut short by the deadline: what arrived is no answer to go on with
        response.close()
        raise socket.timeout(_late_headers(timeout))
    return response


def _late_headers(timeout):
    return ('no complete response headers within %g s (the server sends them slower than that, or not at all)'
            % timeout)


class _Pace(object):
    """Raises socket.timeout when a ``window`` of seconds brought fewer than ``min_rate * window`` bytes."""

    def __init__(self, window, min_rate, clock=time.monotonic):
        self.window, self.min_rate, self.clock = window, min_rate, clock
        self.start, self.bytes = clock(), 0

    def add(self, n):
        self.bytes += n
        elapsed = self.clock() - self.start
        if elapsed < self.window:
            return
        if self.bytes < self.min_rate * elapsed:
            raise socket.timeout('only %d bytes in %.0f s (less than %d bytes/s): the server trickles'
                                 % (self.bytes, elapsed, self.min_rate))
        self.start, self.bytes = self.clock(), 0


def _fetch_once(url, part, timeout, progress, name, min_rate=MIN_RATE):
    """Bring ``part`` to its full size, resuming what is there. Raises on errors (caller retries), also when
    the bytes come slower than ``min_rate`` per second over ``timeout`` seconds (_Pace)."""
    start = os.path.getsize(part) if os.path.exists(part) else 0
    try:
        response = _open(url, start, timeout)
    except HTTPError as e:
        if e.code == 416 and start:  # the range starts at or beyond the end: what we have is everything
            return
        raise
    with response:
        status = getattr(response, 'status', None) or response.getcode()
        if start and status != 206:
            start = 0  # the server ignored Range: it sends the whole file, so restart from zero
        length = response.headers.get('Content-Length')
        total = (start + int(length)) if length is not None else None
        bar = _Progress(name, total, start, progress)
        # read1: what one receive brought (read(CHUNK) would wait for a whole chunk however slowly it came).
        read = getattr(response, 'read1', None) or response.read
        pace = _Pace(timeout, min_rate)
        try:
            with open(part, 'ab' if start else 'wb') as out:
                while True:
                    block = read(CHUNK)
                    if not block:
                        break
                    out.write(block)
                    bar.update(len(block))
                    pace.add(len(block))
        finally:
            bar.close()
    got = os.path.getsize(part)
    if total is not None and got < total:
        raise ConnectionError('connection closed after %d of %d bytes' % (got, total))


def download(url, dest, checksum=None, timeout=60.0, retries=5, backoff=2.0, progress=True, log=None,
             min_rate=MIN_RATE):
    """Fetch ``url`` to ``dest`` unless ``dest`` already exists with the right checksum. Returns ``dest``.
    Every attempt ends: ``timeout`` seconds without a byte, or fewer than ``min_rate`` bytes/s over ``timeout``
    seconds, is a failed attempt."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    name = os.path.basename(dest)
    if os.path.exists(dest):
        if checksum_ok(dest, checksum):
            return dest
        raise DownloadError('%s exists but its checksum is not %s; it is left untouched: move it away and rerun '
                            'to download it again' % (dest, checksum))
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + '.part'
    for verification in (1, 2):
        attempt = 0
        while True:
            attempt += 1
            try:
                _fetch_once(url, part, timeout, progress, name, min_rate)
                break
            except HTTPError as e:
                if e.code < 500:
                    raise DownloadError('%s: HTTP %d %s for %s; check the URL or the mirror (--mirror)'
                                        % (name, e.code, e.reason, url))
                reason = 'HTTP %d' % e.code
            except (URLError, ConnectionError, socket.timeout, TimeoutError, OSError) as e:
                reason = '%s: %s' % (type(e).__name__, getattr(e, 'reason', e))
            if attempt > retries:
                raise DownloadError('%s: giving up after %d attempts (%s); rerun to resume from %d bytes'
                                    % (name, attempt, reason, os.path.getsize(part) if os.path.exists(part) else 0))
            wait = backoff * 2 ** (attempt - 1)
            log('%s: %s; retrying in %.1f s (attempt %d of %d)' % (name, reason, wait, attempt + 1, retries + 1))
            time.sleep(wait)
        if checksum_ok(part, checksum):
            os.replace(part, dest)
            return dest
        os.remove(part)
        if verification == 1:
            log('%s: checksum mismatch (expected %s); downloading once more' % (name, checksum))
    raise DownloadError('%s: checksum mismatch twice (expected %s) for %s; the server or mirror serves a '
                        'different file' % (name, checksum, url))
