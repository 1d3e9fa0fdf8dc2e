"""`afa status`: where every run of a reproduction stands, read from the run folders alone.

No scheduler is asked (a login node on the shared file system sees what the compute nodes write): the state comes
from the marker files of afa/runs/layout.py, mmcv's logs and the run folder's lock, as follows.

- not started: no run folder, or no training log in it;
- training: a process holds the run folder's lock (afa/runs/runlock.py) and a log moved within ``stall_after``
  seconds;
- stalled: the lock is held (or not visible from this host) but no log moved for ``stall_after`` seconds: a hung
  node, a dead file system mount, a deadlocked data loader. The file that stopped is named;
- continuing: no process holds the lock and the last job segment ended at a checkpoint on request (a time
  limit's warning, a preemption: afa/runs/segments.py), so the run is waiting for its next segment (SLURM's
  requeue, Snakemake's resubmission, or `afa train` again). Never reported failed meanwhile;
- failed: no process holds the lock and training did not finish: it exited on an error (the text log's last
  lines say why; a run the early alarm stopped says so) or died (the holder record it left is named);
- trained: training finished (train_done.json), evaluation not started;
- evaluating: `afa test` holds the lock of metrics.json;
- done: metrics.json written.

Standard library only, so that it answers at once on a login node.
"""
import os
import re
import time

from afa.runs import schedule as schedule_mod
from afa.runs import layout, scores, training_log
from afa.runs.folder import RunFolder, describe_not_compared
from afa.runs.runlock import holder_gone

NOT_STARTED, TRAINING, STALLED, CONTINUING, FAILED, TRAINED, EVALUATING, DONE = (
    'not started', 'training', 'stalled', 'continuing', 'failed', 'trained', 'evaluating', 'done')
STATES = (NOT_STARTED, TRAINING, STALLED, CONTINUING, FAILED, TRAINED, EVALUATING, DONE)
STALL_AFTER = 30 * 60  # seconds: longer than a val2017 evaluation (no log line is written meanwhile)
_PROGRESS = re.compile(r'Epoch \[(\d+)\]\[(\d+)/(\d+)\]')
_MAX_EPOCHS = re.compile(r'max_epochs\s*=\s*(\d+)')
RECENT = 20  # train log entries averaged for the ETA's time per iteration


def _text_progress(text_log):
    """(epoch, iter, iters per epoch) of the text log's last progress line, or None."""
    try:
        with open(text_log, 'rb') as f:
            f.seek(max(0, os.path.getsize(text_log) - 65536))
            tail = f.read().decode('utf-8', 'replace')
    except OSError:
        return None
    found = _PROGRESS.findall(tail)
    return tuple(int(v) for v in found[-1]) if found else None


def _max_epochs(folder, run):
    """mmcv epochs of the run: the schedule run.json records (afa/runs/schedule.py), else its config.py."""
    recorded = run.get('schedule', {}).get('max_epochs') if isinstance(run.get('schedule'), dict) else None
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    text = folder.read_config_text()
    match = _MAX_EPOCHS.search(text) if text is not None else None
    return int(match.group(1)) if match else None


def _start_time(log_path):
    """A start's time from its log's name (mmcv names them by the local start time, YYYYmmdd_HHMMSS)."""
    stamp = os.path.basename(log_path).split('.')[0]
    try:
        return time.mktime(time.strptime(stamp, '%Y%m%d_%H%M%S'))
    except ValueError:
        return None


def _hours(text_logs):
    """Wall-clock hours of every start: from its log's name (start) to its last write (text or JSON log)."""
    total = 0.0
    for text in text_logs:
        path = text[:-len(layout.LOG_TEXT_SUFFIX)] + layout.LOG_JSON_SUFFIX
        start = _start_time(text)
        ends = [os.path.getmtime(p) for p in (path, text) if os.path.exists(p)]
        if start is not None and ends:
            total += max(0.0, max(ends) - start) / 3600.0
    return total


def run_status(run_folder, stall_after=STALL_AFTER, now=None):
    """One run's status as a dict (the `--json` record)."""
    now = time.time() if now is None else now
    status = dict(run=os.path.basename(os.path.normpath(run_folder)), folder=run_folder, state=NOT_STARTED,
                  epoch=None, max_epochs=None, iter=None, iters_per_epoch=None, img_per_s=None, eta_s=None,
                  val_ap=None, val_epoch=None, box_ap=None, hours=None, gpu_hours=None, alarm=None, not_compared=None,
                  segments=None, note='')
    json_logs = training_log.log_files(run_folder)
    text_logs = [p for p in training_log.text_log_files(run_folder) if _start_time(p) is not None]
    if not json_logs and not text_logs:
        return status
    entries = training_log.read_entries(json_logs)
    folder = RunFolder(run_folder)
    run = folder.run_record()
    hours = _hours(text_logs)
    gpus = int(run.get('gpus') or 0)
    status.update(hours=round(hours, 3), gpu_hours=round(hours * gpus, 2), max_epochs=_max_epochs(folder, run))
    train = [e for e in entries if e.get('mode') == 'train']
    text_log = text_logs[-1] if text_logs else json_logs[-1][:-len(layout.LOG_JSON_SUFFIX)] + layout.LOG_TEXT_SUFFIX
    progress = _text_progress(text_log)
    if progress:
        status.update(epoch=progress[0], iter=progress[1], iters_per_epoch=progress[2])
    elif train:
        status.update(epoch=train[-1]['epoch'], iter=train[-1]['iter'])
    throughput = [e['img_per_s'] for e in train[-RECENT:] if isinstance(e.get('img_per_s'), (int, float))]
    if throughput:
        status['img_per_s'] = round(throughput[-1], 2)
    curve = training_log.validation_ap(entries)
    if curve:
        last = max(curve)
        status.update(val_epoch=last, val_ap=round(curve[last], 1))
    alarm = folder.alarm()
    if alarm and alarm.get('outside'):
        status['alarm'] = alarm
    status['not_compared'] = folder.alarm_not_compared(alarm or {})
    _set_state(status, folder, json_logs, text_log, stall_after, now)
    if status['state'] == TRAINING:
        status['eta_s'] = _eta(status, train)
    return status


def _set_state(status, folder, json_logs, text_log, stall_after, now):
    metrics = folder.metrics()
    if metrics and isinstance(metrics.get('bbox'), dict):
        why = scores.problem(metrics)
        if why is None:
            status.update(state=DONE, box_ap=metrics['bbox'].get('AP'))
            return
        status['note'] = '%s: %s; delete it and rerun `afa test`' % (folder.metrics_path, why)
    if folder.is_trained():
        held, _ = folder.lock_state(layout.output_lock_name(folder.metrics_path))
        status['state'] = EVALUATING if held == 'held' else TRAINED
        return
    moved = [p for p in json_logs[-1:] + [text_log] if os.path.exists(p)]
    newest = max(moved, key=os.path.getmtime)
    idle = now - os.path.getmtime(newest)
    lock, record = folder.lock_state()
    alarm = status.get('alarm') or {}
    # The flock is authoritative where this host sees it; a file system that keeps flocks per node makes a run of
    # another node look unlocked, so there a recently moved log still counts as training.
    ended = lock == 'free' or (lock == 'died' and (idle >= stall_after or holder_gone(record)))
    segments = folder.segments()
    if segments:
        status['segments'] = len(segments)
    last = segments[-1] if segments else None
    pause = last if isinstance(last, dict) and last.get('outcome') == 'continue' else None
    if ended and pause:
        status.update(state=CONTINUING, note='segment %d stopped on %s at %s %s ago; it continues in its next job '
                      'segment (requeued or resubmitted), or when `afa train` runs again' % (
                          status['segments'], pause.get('signal') or 'request', pause.get('checkpoint') or '?',
                          _duration(idle)))
    elif ended and alarm.get('stopped'):
        status.update(state=FAILED, note='stopped by the early alarm after epoch %s; `afa train` again resumes it'
                      % alarm.get('last_outside', alarm.get('epoch')))
    elif ended:
        status.update(state=FAILED, note='%s; see the end of %s' % (
            'its process died (%s)' % _describe(record) if lock == 'died' else 'it exited without finishing',
            text_log))
    elif idle < stall_after:
        status['state'] = TRAINING
    else:
        status.update(state=STALLED, note='%s has not moved for %s' % (newest, _duration(idle)))


def _describe(record):
    return 'pid %s on %s' % (record.get('pid', '?'), record.get('host', '?')) if record else 'unknown holder'


def _eta(status, train):
    """Seconds to the last epoch's end at the recent time per iteration (validation time not included)."""
    times = [e['time'] for e in train[-RECENT:] if isinstance(e.get('time'), (int, float))]
    left = schedule_mod.iterations_left(status['max_epochs'], status['iters_per_epoch'], status['epoch'],
                                        status['iter'])
    if not times or left is None:
        return None
    return int(left * sum(times) / len(times))


def _duration(seconds):
    if seconds is None:
        return '-'
    seconds = int(seconds)
    if seconds >= 86400:
        return '%dd%02dh' % (seconds // 86400, seconds % 86400 // 3600)
    if seconds >= 3600:
        return '%dh%02dm' % (seconds // 3600, seconds % 3600 // 60)
    return '%dm%02ds' % (seconds // 60, seconds % 60)


def selected_runs(runs_root, scale, targets, seeds=None, precision=layout.DEFAULT_PRECISION):
    """The run ids of ``targets`` (ROW or ROW+VARIANT) x ``seeds``, plus the run folders of further seeds,
    variants or precisions of the same rows found under RUNS_ROOT/SCALE, in the targets' order."""
    wanted = [layout.run_id(t, precision, s) for t in targets for s in (seeds or [layout.DEFAULT_SEED])]
    rows = {layout.parse_run_id(r).row for r in wanted}
    extra = []
    for folder in RunFolder.all_in(layout.runs_dir(runs_root, scale)):
        name = folder.run_id
        try:
            run = layout.parse_run_id(name)
        except ValueError:
            continue
        if run.row in rows and name not in wanted:
            extra.append(name)
    order = {t: i for i, t in enumerate(targets)}
    return sorted(wanted + extra, key=lambda r: (order.get(layout.parse_run_id(r).target, len(order)),
                                                 layout.parse_run_id(r).target, r))


def collect(runs_root, scale, run_ids, stall_after=STALL_AFTER, now=None):
    return [run_status(layout.run_dir(runs_root, scale, r), stall_after, now) for r in run_ids]


def _fmt(value, pattern='%s'):
    return '-' if value is None else pattern % value


def render(statuses):
    """The table as text: one line per run, then the notes (stalled files, failures, alarms)."""
    header = ['run', 'state', 'epoch', 'iter', 'img/s', 'ETA', 'val AP', 'box AP', 'GPU-h', 'alarm']
    rows, notes = [], []
    for s in statuses:
        epoch = '-' if s['epoch'] is None else '%s/%s' % (s['epoch'], _fmt(s['max_epochs']))
        it = '-' if s['iter'] is None else '%s/%s' % (s['iter'], _fmt(s['iters_per_epoch']))
        val = '-' if s['val_ap'] is None else '%.1f (e%d)' % (s['val_ap'], s['val_epoch'])
        alarm, waiting = s['alarm'], s.get('not_compared')
        mark = ('!! e%s' % alarm.get('epoch') if alarm
                else 'n/c e%s' % ','.join(str(e) for e in waiting['epochs']) if waiting else '')
        rows.append([s['run'], s['state'], epoch, it, _fmt(s['img_per_s'], '%.1f'),
                     _duration(s['eta_s']) if s['eta_s'] is not None else '-', val, _fmt(s['box_ap'], '%.1f'),
                     _fmt(s['gpu_hours'], '%.1f'), mark])
        if s['note']:
            notes.append('%s: %s' % (s['run'], s['note']))
        if alarm:
            notes.append('%s: early alarm: %s' % (s['run'], alarm.get('message', '')))
        if waiting:
            notes.append('%s: early alarm: %s (compared at its next validation)'
                         % (s['run'], describe_not_compared(waiting)))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ['  '.join(c.ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    counts = {}
    for s in statuses:
        counts[s['state']] = counts.get(s['state'], 0) + 1
    lines.append('%d runs: %s' % (len(statuses), ', '.join('%d %s' % (counts[k], k) for k in STATES if k in counts)))
    return '\n'.join(lines + notes)
