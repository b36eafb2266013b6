"""Run every shell command of the README and docs/*.md, so that the docs cannot rot.

Commands are the lines of the ```bash / ```shell / ```sh blocks of ``README.md`` and
``docs/*.md`` (README first, then the docs in name order; ``\\`` continuations joined, comments
dropped, repeated commands run once). They run in order in one temporary folder that links
``configs/`` and ``tools/``, so relative paths of the docs (``work_dirs/...``, ``data/...``)
resolve there and a train command's checkpoint is there for the test command after it.

How each command runs:

* ``python tools/train.py|test.py|mcma_prompt_check.py|sap_ssd_check.py CONFIG ...``: the
  repo's own pre-flight check (``asym_plugins.engine.launch.check_local_paths``) decides.
  Configs whose inputs are missing (real datasets, pretrained weights) are run and must stop
  at once with a
  ``FileNotFoundError`` that names the missing path and the config key to change. The others
  (synthetic twins) are run for real, with budget-shrinking overrides appended
  (:func:`budget_overrides`: 1 epoch, validation once, 8 training identities (or as many as
  one batch needs) and 6 test identities, no worker processes).
* In every command, a checkpoint ``.../epoch_N.pth`` that a shortened run did not write is
  replaced by the newest ``epoch_*.pth`` of that folder.
* ``python tools/torchreid_train.py YAML ...``: run with ``train.max_epoch 1`` and a smaller world.
* ``python tools/make_synthetic.py ...``: run with 4 training / 3 test identities.
* any other ``python tools/<x>.py ...``: run as written; with ``--config CONFIG`` (e.g.
  ``tools/visualize.py``) the same budget overrides are appended, so that it sees the same
  shrunken world as the run that wrote its checkpoint or features.
* commands matching :data:`SKIP` (install, bootstrap, multi-process, minutes-long runs) are not
  run; everything else is, so a new command in the docs is tested by default.

``tools/*.py`` run in this process (their ``main(argv)``, the same entry point as the command
line; importing torch and MMEngine once keeps the whole file well under a minute or two); set
``ASYM_DOCS_SUBPROCESS=1`` to run each command in its own ``python`` process instead.
"""
import gc
import glob
import importlib.util
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import traceback

import pytest

# The commands share one folder and run in the docs' order: keep them on one xdist worker
# (``--dist loadgroup``); a random order is handled by running earlier commands first.
pytestmark = pytest.mark.xdist_group('docs_commands')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC_FILES = ['README.md'] + sorted(osp.relpath(p, ROOT)
                                   for p in glob.glob(osp.join(ROOT, 'docs', '*.md')))

#: Commands that are NOT run: command prefix -> why. Keep it short and explicit.
SKIP = {
    'bash tools/bootstrap.sh': 'creates a virtual env and installs torch (what CI itself runs)',
    'pip install': 'installation',
    'pytest': 'the test suite itself',
    'bash tools/dist_train.sh': 'several processes (torchrun); dist_test.sh is tested in '
                                'tests/test_tools_e2e.py with the same launcher',
    'bash tools/dist_test.sh': 'tested in tests/test_tools_e2e.py::'
                               'test_dist_test_two_processes_equals_one',
    'python tools/showcase.py': 'about 15 minutes (every method and baseline)',
    'python tools/benchmarks/': 'benchmarks run for minutes at real-dataset scale',
}

#: Commands known to fail, with the reason (reported; remove the entry when the doc is fixed).
KNOWN_FAILURES = {}

N_TRAIN_IDS, N_TEST_IDS = 8, 6
IN_PROCESS = os.environ.get('ASYM_DOCS_SUBPROCESS', '') != '1'
FENCE = re.compile(r'^```(bash|shell|sh)[ \t]*\n(.*?)^```', re.S | re.M)
ENV_ASSIGN = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*=')


# ------------------------------------------------------------------------------ extraction
def extract_commands(text):
    """Commands of the bash/shell blocks of a Markdown text: ``[(line number, argv)]``."""
    out = []
    for m in FENCE.finditer(text):
        first_line = text.count('\n', 0, m.start(2)) + 1
        lines = m.group(2).split('\n')
        i = 0
        while i < len(lines):
            start, line = i, lines[i]
            while line.rstrip().endswith('\\') and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + ' ' + lines[i].strip()
            i += 1
            argv = shlex.split(line, comments=True)
            if argv:
                out.append((first_line + start, argv))
    return out


def split_env(argv):
    env, i = {}, 0
    while i < len(argv) and ENV_ASSIGN.match(argv[i]):
        key, value = argv[i].split('=', 1)
        env[key] = value
        i += 1
    return env, argv[i:]


def skip_reason(argv):
    cmd = ' '.join(split_env(argv)[1])
    for prefix, why in SKIP.items():
        if cmd == prefix or cmd.startswith(prefix if prefix.endswith('/') else prefix + ' '):
            return prefix, why
    return None


def collect():
    seen, cases = {}, []
    for rel in DOC_FILES:
        with open(osp.join(ROOT, rel), encoding='utf-8') as f:
            text = f.read()
        for line, argv in extract_commands(text):
            key = ' '.join(split_env(argv)[1])
            if key in seen:
                continue
            seen[key] = f'{rel}:{line}'
            cases.append(pytest.param(argv, id=f'{rel}:{line}'))
    return cases


CASES = collect()


# ------------------------------------------------------------------------------- budgets
def _walk(node, path=''):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f'{path}.{k}' if path else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _walk(v, f'{path}.{i}')


def _ids_per_batch(cfg):
    sampler = (cfg.get('train_dataloader') or {}).get('sampler') or {}
    k = sampler.get('num_instances')
    if not k or not sampler.get('batch_size'):
        return 0
    per_id = 2 * k if sampler.get('type') == 'CrossModalityIdentitySampler' else k
    return sampler['batch_size'] // per_id


def budget_overrides(cfg):
    """``--cfg-options`` that shrink a synthetic config to seconds: one epoch with one
    validation, few identities (as many as one training batch needs, at least
    ``N_TRAIN_IDS``; heads resized to match), no data-loading processes, no dataset
    serialisation (it runs ``gc.collect()``, slow in a long-lived process)."""
    n_train = max(N_TRAIN_IDS, _ids_per_batch(cfg))
    opts = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1}
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(name):
            opts[f'{name}.num_workers'] = 0
            opts[f'{name}.persistent_workers'] = False
    for path, node in _walk(cfg.to_dict()):
        if node.get('type') == 'SyntheticReIDDataset':
            opts[f'{path}.num_train_ids'] = n_train
            opts[f'{path}.num_test_ids'] = N_TEST_IDS
            opts[f'{path}.serialize_data'] = False
        elif node.get('type') == 'QueryGalleryDataset':
            opts[f'{path}.serialize_data'] = False
        if (path == 'model' or path.startswith('model.')) and \
                isinstance(node.get('num_classes'), int):
            opts[f'{path}.num_classes'] = n_train
    return [f'{k}={v}' for k, v in opts.items()]


def latest_checkpoint(path):
    """``path`` if it exists, else the newest ``epoch_*.pth`` beside it (shortened runs)."""
    if osp.isfile(path) or not re.search(r'epoch_\d+\.pth$', path):
        return path
    found = glob.glob(osp.join(osp.dirname(path), 'epoch_*.pth'))
    if not found:
        return path
    return max(found, key=lambda p: int(re.search(r'epoch_(\d+)\.pth$', p).group(1)))


# ------------------------------------------------------------------------------- running
_MODULES = {}


def _tool(script):
    if script not in _MODULES:
        name = 'docs_tool_' + re.sub(r'\W', '_', script)
        spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, script))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[script] = module
    return _MODULES[script]


def _call(script, args, env):
    """Run ``python script args``: in this process (``main(argv)``) or in a subprocess."""
    module = _tool(script) if IN_PROCESS else None
    if module is not None and hasattr(module, 'main'):
        try:
            module.main(list(args))
        except SystemExit as e:
            if e.code not in (None, 0):
                raise AssertionError(f'{script} exited with {e.code}') from e
        finally:
            gc.collect()
        return
    out = subprocess.run([sys.executable, script] + list(args),
                         env=dict(os.environ, PYTHONPATH=ROOT, **env),
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        if 'FileNotFoundError: ' in out.stderr:  # the same exception as in-process
            raise FileNotFoundError(out.stderr.split('FileNotFoundError: ', 1)[1][-3000:])
        if out.returncode == 2 and ': error: ' in out.stderr:  # a user-error stop (no traceback)
            raise FileNotFoundError(out.stderr.split(': error: ', 1)[1][-3000:])
        raise AssertionError(f'exit {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}')


def _needs_real_inputs(script, args):
    """The pre-flight error of a train/test command (None when every input exists)."""
    from mmengine.config import Config

    from asym_plugins.engine.launch import check_local_paths
    parsed = _tool(script).parse_args(list(args))
    cfg = Config.fromfile(parsed.config)
    if parsed.cfg_options:
        cfg.merge_from_dict(parsed.cfg_options)
    try:
        check_local_paths(cfg)
    except FileNotFoundError as e:
        return cfg, str(e)
    return cfg, None


def run_command(argv):
    env, argv = split_env(argv)
    argv = [latest_checkpoint(a) for a in argv]
    prog, args = argv[0], argv[1:]
    if prog in ('python', 'python3') and args and args[0].startswith('tools/'):
        script, args = args[0], args[1:]
        if script in ('tools/train.py', 'tools/test.py', 'tools/mcma_prompt_check.py',
                      'tools/sap_ssd_check.py'):
            cfg, missing = _needs_real_inputs(script, args)
            if missing is not None:
                assert '--cfg-options' in missing and 'missing' in missing, missing
                with pytest.raises(FileNotFoundError) as err:
                    _call(script, args, env)
                msg = str(err.value)
                assert 'does not exist' in msg or '--cfg-options' in msg, msg
                return 'stopped at the missing-input check: ' + missing.splitlines()[1].strip()
            if script == 'tools/train.py' and '--work-dir' not in args:
                # the default folder of the command as written (the budget's --cfg-options
                # would give the run a folder of its own: default_work_dir)
                from asym_plugins.engine.launch import default_work_dir
                parsed = _tool(script).parse_args(list(args))
                args = args + ['--work-dir', default_work_dir(parsed.config, parsed.cfg_options)]
            args = args + ['--cfg-options'] + budget_overrides(cfg)
        elif script == 'tools/torchreid_train.py':
            args = args + ['train.max_epoch', '1', 'asym.synthetic.num_train_ids', '8',
                           'asym.synthetic.num_test_ids', '6', 'data.workers', '0']
        elif script == 'tools/make_synthetic.py':
            args = args + ['--num-train-ids', '4', '--num-test-ids', '3', '--no-progress']
        elif '--config' in args:  # e.g. tools/visualize.py: the same shrunken world
            from mmengine.config import Config
            cfg = Config.fromfile(args[args.index('--config') + 1])
            args = args + ['--cfg-options'] + budget_overrides(cfg)
        _call(script, args, env)
        return 'ran'
    out = subprocess.run(argv, env=dict(os.environ, PYTHONPATH=ROOT, **env),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f'{argv}: exit {out.returncode}\n{out.stderr[-3000:]}'
    return 'ran'


class Workspace:
    """The docs' folder and what has run in it: ``outcome[i]`` is None (ran) or the error text
    of ``CASES[i]``."""

    def __init__(self, path):
        self.path = path
        self.outcome = {}


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp('docs')
    for name in ('configs', 'tools'):
        os.symlink(osp.join(ROOT, name), ws / name)
    with pytest.MonkeyPatch.context() as mp:
        if IN_PROCESS:
            # MMEngine formats every dumped / logged config with yapf (about 6 s of each
            # shortened run); the unformatted text is the same Python.
            import mmengine.config.config as mm_config
            mp.setattr(mm_config, 'FormatCode', lambda text, **kw: (text, None))
        yield Workspace(ws)


def _run_once(ws, i):
    """Run ``CASES[i]`` in the workspace (once; its outcome is remembered)."""
    if i not in ws.outcome:
        argv = CASES[i].values[0]
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(ws.path)
            mp.setenv('PYTHONPATH', ROOT)
            for key, value in split_env(argv)[0].items():
                mp.setenv(key, value)
            try:
                run_command(argv)
                ws.outcome[i] = None
            except BaseException as e:  # noqa: B902  (pytest.fail/skip too: reported below)
                ws.outcome[i] = f'{shlex.join(argv)}\n{traceback.format_exc()[-4000:]}'
                if not isinstance(e, Exception):
                    raise
    return ws.outcome[i]


@pytest.mark.parametrize('index', range(len(CASES)), ids=[c.id for c in CASES])
def test_doc_command(index, workspace, request):
    """``CASES[index]``, after every command before it in the docs (run first if a random or
    distributed order has not run them yet: a command may read what an earlier one wrote)."""
    argv = CASES[index].values[0]
    reason = skip_reason(argv)
    if reason is not None:
        pytest.skip(f'{reason[0]}: {reason[1]} (SKIP in {osp.basename(__file__)})')
    cmd = ' '.join(split_env(argv)[1])
    for prefix, why in KNOWN_FAILURES.items():
        if cmd.startswith(prefix):
            request.node.add_marker(pytest.mark.xfail(reason=why, strict=False))
    earlier = [j for j in range(index) if skip_reason(CASES[j].values[0]) is None]
    failed_before = [CASES[j].id for j in earlier if _run_once(workspace, j) is not None]
    error = _run_once(workspace, index)
    if error is not None:
        note = f'\n(earlier doc commands that failed: {failed_before})' if failed_before else ''
        pytest.fail(f'doc command failed: {error}{note}')


def test_docs_have_commands_and_skips_are_used():
    """The extraction finds the docs' commands, and every SKIP entry still matches one (a stale
    entry would hide nothing, but say something that is no longer true)."""
    argvs = [c.values[0] for c in CASES]
    assert len(argvs) >= 20
    used = {skip_reason(a)[0] for a in argvs if skip_reason(a)}
    stale = set(SKIP) - used - {'pytest', 'pip install'}  # guards, whether or not present
    assert not stale, f'SKIP entries matching no command: {stale}'


def test_extraction_rules():
    text = ('x\n```bash\n# comment\nA=1 python tools/t.py --x 1   # trailing\n'
            'python tools/u.py \\\n    --y 2\n```\n```python\nprint(1)\n```\n'
            '```shell\nbash tools/dist_train.sh c.py 8\n```\n')
    cmds = extract_commands(text)
    assert [a for _, a in cmds] == [['A=1', 'python', 'tools/t.py', '--x', '1'],
                                    ['python', 'tools/u.py', '--y', '2'],
                                    ['bash', 'tools/dist_train.sh', 'c.py', '8']]
    assert [n for n, _ in cmds] == [4, 5, 12]
    assert split_env(cmds[0][1]) == ({'A': '1'}, ['python', 'tools/t.py', '--x', '1'])
    assert skip_reason(cmds[2][1])[0] == 'bash tools/dist_train.sh'
    assert skip_reason(['python', 'tools/benchmarks/bench_eval.py'])[0] == \
        'python tools/benchmarks/'
    assert skip_reason(['pytest', '-q']) is not None
    assert skip_reason(['python', 'tools/train.py', 'x.py']) is None
