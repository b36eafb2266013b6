"""Command-line plumbing shared by ``tools/*.py``: user errors, exit codes, ``--cfg-options``.

A mistake in what the user gave (a missing file, a bad config key or value, a damaged
checkpoint) raises a :class:`UserError`. :func:`run_cli` prints its message without a
traceback and exits with code 2; ``--debug`` on the command line or ``ASYM_DEBUG=1`` in the
environment shows the traceback instead. Anything else (a bug) keeps its traceback.
"""
import os
import sys
from argparse import Action
from typing import Any, Callable, List, Optional

from mmengine.config import DictAction

#: exit status of a stop caused by the user's input (argparse uses 2 for usage errors too).
USER_ERROR_EXIT = 2


class UserError(Exception):
    """A mistake in the user's input; the message says what is wrong and how to fix it."""


class ConfigError(UserError, ValueError):
    """A config key has a value that cannot work (the message names the key)."""


class ConfigKeyError(UserError, KeyError):
    """A config key that does not exist (``str()`` without ``KeyError``'s quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ''


class MissingInputError(UserError, FileNotFoundError):
    """An input file or folder named by the user or the config does not exist."""


def debug_requested(argv: Optional[List[str]] = None) -> bool:
    """``--debug`` among the arguments, or ``ASYM_DEBUG`` set to 1/true/yes."""
    argv = sys.argv[1:] if argv is None else argv
    env = os.environ.get('ASYM_DEBUG', '').strip().lower()
    return '--debug' in argv or env in ('1', 'true', 'yes', 'on')


def add_debug_flag(parser) -> None:
    parser.add_argument('--debug', action='store_true',
                        help='show the full traceback when the run stops on an input error '
                             '(also ASYM_DEBUG=1)')


def is_user_mistake(err: BaseException) -> bool:
    """A :class:`UserError`, or MMEngine's registry ``KeyError`` for an unknown ``type``
    name in the config (``'X is not in the asym::model registry ...'``)."""
    if isinstance(err, UserError):
        return True
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else ''
    return ' is not in the ' in text and 'registry' in text


def run_cli(main: Callable[[Optional[List[str]]], Any], argv: Optional[List[str]] = None,
            prog: Optional[str] = None) -> None:
    """Run ``main(argv)``; a user mistake (:func:`is_user_mistake`) prints
    ``prog: error: message`` and exits 2; other exceptions keep their traceback."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = prog or os.path.basename(sys.argv[0] or 'asym')
    try:
        main(argv)
    except (UserError, KeyError) as err:
        if debug_requested(argv) or not is_user_mistake(err):
            raise
        text = err.args[0] if type(err) is KeyError and err.args else err
        sys.stderr.write(f'{prog}: error: {text}\n(run with --debug or ASYM_DEBUG=1 for the '
                         'traceback)\n')
        sys.stderr.flush()
        raise SystemExit(USER_ERROR_EXIT) from None


def parse_option_value(text: str) -> Any:
    """One ``--cfg-options`` value: quoted -> the string inside, verbatim; ``[..]``/``(..)``
    or comma-separated -> list/tuple (MMEngine's rules); else int/float/bool/None or the
    string as written, spaces kept."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in '\'"':
        return text[1:-1]
    stripped = text.strip()
    if stripped[:1] in '[(' or ',' in stripped:
        return DictAction._parse_iterable(stripped)
    return DictAction._parse_int_float_bool(stripped)


class CfgOptionsAction(Action):
    """``--cfg-options KEY=VALUE ...`` like MMEngine's ``DictAction``, except that a value
    keeps its spaces (``'data_root=/data/my runs'``) and a quoted value stays one string
    (``'data_root="/data/a,b"'``); MMEngine removes every space."""

    def __call__(self, parser, namespace, values, option_string=None):
        options = dict(getattr(namespace, self.dest, None) or {})
        for kv in values if isinstance(values, (list, tuple)) else [values]:
            key, sep, value = kv.partition('=')
            if not sep or not key:
                parser.error(f'{option_string}: expected KEY=VALUE, got {kv!r} (e.g. '
                             'train_dataloader.batch_size=32)')
            options[key.strip()] = parse_option_value(value)
        setattr(namespace, self.dest, options)
