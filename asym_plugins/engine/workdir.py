"""One training per work dir: a lock file, stale temp files, and finding what to resume.

* :class:`WorkDirLock`: ``<work_dir>/.asym_train.lock`` holds the pid, host, start time and
  command of the training that owns the folder. The lock itself is an OS advisory lock
  (``fcntl.flock``) on that file, so it disappears with the process however it ends; a second
  training is refused with a message naming the first. A lock file left by a killed run (its
  pid no longer holds the lock) is taken over with a log line.
* :func:`remove_stale_tmp`: partial ``.tmp`` files of writes that a kill interrupted.
* :func:`find_resume_checkpoint`: ``last_checkpoint`` (relative to the work dir; absolute
  paths of older runs and copied folders are mapped back into it), else the newest checkpoint
  in the folder that passes :func:`~asym_plugins.engine.checkpoint.checkpoint_problem`.
"""
import datetime
import glob
import json
import os
import os.path as osp
import re
import socket
import sys
from typing import List, Optional, Tuple

from mmengine.logging import print_log

from .cli import UserError

LOCK_NAME = '.asym_train.lock'

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: lock by exclusive creation + pid check
    fcntl = None


class WorkDirLockedError(UserError):
    """Another training holds the work dir."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(info: dict) -> str:
    return (f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, started "
            f"{info.get('started', '?')}: {info.get('command', '?')}")


class WorkDirLock:
    """Exclusive ownership of a work dir by one training (see the module docstring).

    Use as a context manager or call :meth:`acquire` / :meth:`release`.
    """

    def __init__(self, work_dir: str, command: Optional[str] = None):
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self.command = command if command is not None else ' '.join(sys.argv)
        self._fd: Optional[int] = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _info(self) -> dict:
        return dict(pid=os.getpid(), host=socket.gethostname(), work_dir=osp.abspath(self.work_dir),
                    started=datetime.datetime.now().isoformat(timespec='seconds'),
                    command=self.command)

    @staticmethod
    def _read(fd: int) -> dict:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = b''
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            raw += chunk
        try:
            return json.loads(raw.decode('utf-8')) if raw.strip() else {}
        except ValueError:
            return {'command': repr(raw[:200])}

    def _refuse(self, other: dict) -> None:
        raise WorkDirLockedError(
            f'work dir {self.work_dir!r} is in use by another training ({_describe(other)}). '
            'Two trainings in one folder overwrite each other\'s checkpoints: wait for it to end, '
            f'or give this run its own --work-dir. (Lock file: {self.path}.)')

    def acquire(self) -> 'WorkDirLock':
        if self.held:
            return self
        os.makedirs(self.work_dir, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            return self._acquire_without_flock()
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = self._read(fd)
                os.close(fd)
                self._refuse(other)
            except OSError as err:  # a file system without flock (some network mounts)
                os.close(fd)
                print_log(f'work dir {self.work_dir}: no file locking here ({err}); using the '
                          'lock file with a pid check instead.', logger='current', level=30)
                return self._acquire_without_flock()
            # The holder we waited for may have removed the file: lock the file on disk.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            old = self._read(fd)
            if old.get('pid') is not None:
                print_log(f'work dir {self.work_dir}: taking over the lock of a run that ended '
                          f'without releasing it (killed?): {_describe(old)}.', logger='current',
                          level=30)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(self._info(), indent=1).encode('utf-8'))
            os.fsync(fd)
            self._fd = fd
            return self
        raise WorkDirLockedError(f'could not lock {self.path} (it keeps being replaced).')

    def _acquire_without_flock(self) -> 'WorkDirLock':
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                with open(self.path, 'rb') as f:
                    raw = f.read().decode('utf-8', errors='replace')
                try:
                    other = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    other = {}
                same_host = other.get('host') == socket.gethostname()
                if 'pid' not in other or (same_host and not _pid_alive(int(other['pid']))):
                    print_log(f'work dir {self.work_dir}: taking over the stale lock of '
                              f'{_describe(other)} (process gone).', logger='current', level=30)
                    os.remove(self.path)
                    continue
                self._refuse(other)
            os.write(fd, json.dumps(self._info(), indent=1).encode('utf-8'))
            self._fd = fd
            return self
        raise WorkDirLockedError(f'could not lock {self.path}.')

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.remove(self.path)   # before unlocking: a waiter re-checks the inode
        except FileNotFoundError:
            pass
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:   # the pid-check fallback never locked
                pass
        os.close(fd)

    def __enter__(self) -> 'WorkDirLock':
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def is_main_rank() -> bool:
    """Rank 0 (or no launcher): the process that owns the work dir's files."""
    return os.environ.get('RANK', '0') in ('', '0')


_TMP_PATTERNS = ('.*.tmp', '.tmp_*.npz')


def remove_stale_tmp(work_dir: str) -> List[str]:
    """Delete the partial files of interrupted atomic writes in ``work_dir`` (call it while
    holding :class:`WorkDirLock`: nobody else writes there then). Returns the removed paths."""
    removed = []
    for pattern in _TMP_PATTERNS:
        for path in glob.glob(osp.join(glob.escape(work_dir), pattern)):
            if osp.isfile(path) and not osp.islink(path):
                os.remove(path)
                removed.append(path)
    if removed:
        print_log(f'work dir {work_dir}: removed {len(removed)} partial file(s) of interrupted '
                  f'writes: {", ".join(osp.basename(p) for p in sorted(removed))}.',
                  logger='current')
    return removed


_NUM = re.compile(r'(\d+)')


def _checkpoint_order(path: str) -> Tuple[int, float]:
    nums = _NUM.findall(osp.basename(path))
    return (int(nums[-1]) if nums else -1, osp.getmtime(path))


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The checkpoint to resume in ``work_dir`` and notes on what was passed over.

    ``last_checkpoint`` first (a relative name is joined to ``work_dir``; an absolute path that
    does not exist, e.g. in a copied work dir, is looked up by its file name in ``work_dir``);
    when it is absent, empty, or names a missing or damaged file, the newest valid ``*.pth`` of
    ``work_dir`` (by the number in its name, then mtime). Returns ``(None, notes)`` when there
    is nothing to resume.
    """
    from .checkpoint import checkpoint_problem
    notes: List[str] = []
    tried = set()
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker, 'r', encoding='utf-8', errors='replace') as f:
            named = f.read().strip()
        if not named:
            notes.append(f'{marker} is empty')
        else:
            path = named if osp.isabs(named) else osp.join(work_dir, named)
            if osp.isabs(named) and not osp.exists(named) and \
                    osp.isfile(osp.join(work_dir, osp.basename(named))):
                notes.append(f'{marker} names {named!r}, which does not exist; using the file '
                             f'of that name in {work_dir} (a copied or moved work dir)')
                path = osp.join(work_dir, osp.basename(named))
            problem = checkpoint_problem(path)
            if problem is None:
                return path, notes
            tried.add(osp.abspath(path))
            notes.append(f'{marker} names {named!r}: {problem}')
    candidates = [p for p in glob.glob(osp.join(glob.escape(work_dir), '*.pth'))
                  if osp.abspath(p) not in tried]
    for path in sorted(candidates, key=_checkpoint_order, reverse=True):
        problem = checkpoint_problem(path)
        if problem is None:
            if notes:
                notes.append(f'falling back to the newest valid checkpoint {path}')
            return path, notes
        notes.append(f'{path}: {problem}')
    if not candidates and not tried:
        notes.append(f'no checkpoint (*.pth) in {work_dir}')
    return None, notes
