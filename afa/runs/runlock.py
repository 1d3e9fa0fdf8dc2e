"""One writer per run folder: an exclusive ``flock`` on RUN/.afa-lock, held for the life of a training process
(`afa test` holds one per output it writes, layout.output_lock_name).

The kernel drops the lock when its holder exits, however it exits (SIGKILL, out of memory, a lost SSH session),
so a dead holder never blocks a rerun. The file records its holder (pid, host, command, start time) for the
message a second writer gets, and is emptied on a clean release: a record left behind means its holder died
holding it, which the next holder reports.
"""
import fcntl
import json
import os
import socket
import sys
import time

from afa.runs import layout
from afa.utils.atomic import user_os_error
from afa.utils.errors import AfaError

# Child processes of a holder (torch.distributed.run workers) find the held lock's path here.
HELD_ENV = 'AFA_RUN_LOCK_HELD'


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def describe_holder(record):
    return 'pid %s on %s (started %s: %s)' % (record.get('pid'), record.get('host'), record.get('started'),
                                              record.get('command'))


class RunLock(object):
    """``with RunLock(work_dir, 'train'):`` makes the folder if needed and holds its lock until the block ends.

    A second holder gets an AfaError naming the live holder's pid; a stale record of a dead holder is
    reported once (``stale`` holds it) and replaced.
    """

    def __init__(self, folder, purpose, lock_file=layout.LOCK_FILE):
        self.folder = folder
        self.purpose = purpose
        self.path = os.path.join(folder, lock_file)
        self.fd = None
        self.stale = None

    def acquire(self):
        if os.environ.get(HELD_ENV) == os.path.abspath(self.path):
            return self  # our launcher holds it for us (multi-GPU workers)
        try:
            os.makedirs(self.folder, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise user_os_error(e, self.path) or e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (BlockingIOError, PermissionError):
            record = _read_record(fd)
            os.close(fd)
            raise AfaError('%s is in use by another afa process: %s; wait for it to finish or stop it (kill %s), '
                           'then rerun' % (self.folder, describe_holder(record) if record else 'unknown holder',
                                           record.get('pid', 'PID') if record else 'PID'))
        previous = _read_record(fd)
        if previous and not (previous.get('host') == socket.gethostname() and previous.get('pid') == os.getpid()):
            self.stale = previous
            alive = previous.get('host') == socket.gethostname() and _pid_alive(int(previous.get('pid', 0) or 0))
            print('afa %s: %s was left locked by %s, which %s; taking over' % (
                self.purpose, self.folder, describe_holder(previous),
                'no longer holds it' if alive else 'died without releasing it'), file=sys.stderr, flush=True)
        record = dict(pid=os.getpid(), host=socket.gethostname(), purpose=self.purpose,
                      started=time.strftime('%Y-%m-%d %H:%M:%S'), command=' '.join(sys.argv))
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record, sort_keys=True) + '\n').encode(), 0)
        except OSError as e:
            os.close(fd)
            raise user_os_error(e, self.path) or e
        self.fd = fd
        return self

    def release(self):
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)  # a clean exit leaves no holder record
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def child_env(self):
        """Environment for child processes that work under this lock."""
        return dict(os.environ, **{HELD_ENV: os.path.abspath(self.path)})

    def __enter__(self):
        return self if self.fd is not None else self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_record(fd):
    try:
        text = os.pread(fd, 4096, 0).decode('utf-8', 'replace').strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return {'pid': '?', 'host': '?', 'started': '?', 'command': 'unreadable lock record'}


def lock_state(path):
    """(state, holder record) of a lock file: 'held' (a process holds the flock), 'died' (free, with the holder
    record only a killed holder leaves), 'free' (free and empty: released cleanly) or 'missing'."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return 'missing', None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return 'held', None
        fcntl.flock(fd, fcntl.LOCK_UN)
        text = os.pread(fd, 4096, 0).decode('utf-8', 'replace').strip()
    finally:
        os.close(fd)
    try:
        record = json.loads(text) if text else None
    except ValueError:
        record = {}
    return ('died' if text else 'free'), record


def holder_gone(record):
    """True when the lock record names a process of this host that no longer exists."""
    if not record or record.get('host') != socket.gethostname():
        return False
    try:
        os.kill(int(record.get('pid') or 0), 0)
    except (ProcessLookupError, ValueError):
        return True
    except OSError:
        return False
    return False
