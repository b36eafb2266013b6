"""Settings that let MMEngine's Runner run on any machine: GPUs or CPUs only, 1 or N processes."""
import copy
import difflib
import hashlib
import os
import os.path as osp
import re
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from .cli import ConfigError, ConfigKeyError, MissingInputError


def check_cfg_option_keys(cfg: Config, options: Optional[dict]) -> None:
    """Refuse a ``--cfg-options`` key that looks like a typo of an existing key.

    MMEngine adds unknown keys silently, so ``model.bakbone.depth=101`` would change nothing.
    A key whose parent exists, that is itself absent, and that is close to a sibling's name
    raises ``KeyError`` with the suggestion; genuinely new keys are still allowed.
    """
    for key in (options or {}):
        node, parts = cfg.to_dict(), key.split(".")
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit():
                node = node[int(part)] if int(part) < len(node) else None
            elif isinstance(node, (dict, ConfigDict)):
                if part not in node:
                    close = difflib.get_close_matches(part, [str(k) for k in node], n=1, cutoff=0.8)
                    if close:
                        where = '.'.join(parts[:depth] + [close[0]])
                        raise ConfigKeyError(
                            f'--cfg-options: unknown config key {key!r}; did you mean '
                            f'{where!r}? (run with the config file open to see the '
                            'available keys)')
                    break
                node = node[part]
            else:
                break


def _walk(node, path=''):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f'{path}.{k}' if path else str(k))
        yield path, node
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            yield from _walk(v, f'{path}.{i}')


def check_local_paths(cfg: Config) -> None:
    """Check every local input a config names before anything is built, and report all the
    missing ones at once: dataset ``data_root`` folders, ``Pretrained`` checkpoints and
    ``load_from``. Nothing is ever downloaded, so a missing file is the user's to provide.
    """
    missing = {}  # missing path -> (what, [config keys])
    for path, node in _walk(cfg.to_dict()):
        root = node.get('data_root')
        if path and isinstance(root, str) and root and not osp.isdir(root):
            what = (f"dataset folder of {node.get('type', 'the dataset')} (layout: see the "
                    "class docstring); put the release there (a symlink is fine)")
            missing.setdefault(root, (what, []))[1].append(f'{path}.data_root')
        if node.get('type') == 'Pretrained' and isinstance(node.get('checkpoint'), str):
            ckpt = node['checkpoint']
            if '://' not in ckpt and not osp.isfile(ckpt):
                what = 'pretrained weights (a local ImageNet .pth; nothing is downloaded)'
                missing.setdefault(ckpt, (what, []))[1].append(f'{path}.checkpoint')
    load_from = cfg.get('load_from')
    if load_from and not cfg.get('resume') and not osp.isfile(load_from):
        missing.setdefault(load_from, ('checkpoint to load', []))[1].append('load_from')
    if missing:
        lines = []
        for value, (what, keys) in missing.items():
            lines.append(f'  {value!r}: {what}; or point the config elsewhere with '
                         f"--cfg-options '{keys[0]}=/your/path' (quote a path with spaces; "
                         f"keys: {', '.join(keys)})")
        raise MissingInputError(
            f'{len(lines)} input(s) of config {osp.basename(cfg.filename or "")} are missing '
            f'(relative paths are from {os.getcwd()}):\n' + '\n'.join(lines))


def fill_num_classes(cfg: Config) -> Config:
    """Set ``num_classes=None`` of ``model`` / ``model.head`` to the number of identities of the
    training split (``train_dataloader.dataset``, built once without its pipeline).

    Dataset bases leave the count to the data, so one method base serves every dataset; an
    explicit number is kept. Configs without a training loader are returned unchanged.
    """
    model = cfg.get('model')
    slots = [d for d in (model, (model or {}).get('head'))
             if isinstance(d, dict) and 'num_classes' in d and d['num_classes'] is None]
    train = (cfg.get('train_dataloader') or {}).get('dataset')
    if not slots or train is None:
        return cfg
    from mmengine.registry import DefaultScope

    from asym_plugins.registry import DATASETS
    train = copy.deepcopy(train.to_dict() if isinstance(train, ConfigDict) else train)
    train['pipeline'] = []
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'asym')):
        dataset = DATASETS.build(train)
    count = getattr(dataset, 'num_classes', None) or dataset.metainfo.get('num_pids')
    if not count:
        raise ValueError(f'model.num_classes is None and the training set '
                         f'({train.get("type")}) does not report its number of identities; '
                         'set model.num_classes (or model.head.num_classes) in the config.')
    for slot in slots:
        slot['num_classes'] = int(count)
    print_log(f'num_classes = {count} (identities of the training split of '
              f'{train.get("type")}).', logger='current')
    return cfg


def _set_gloo_defaults(cfg: Config) -> None:
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    dist_cfg['backend'] = 'gloo'
    # MMEngine's default wrapper pins device_ids=[LOCAL_RANK], which DDP refuses on CPU.
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)


def _options_slug(options: Optional[dict]) -> str:
    """A folder-name suffix that tells ``--cfg-options`` apart: the readable ``key-value``
    pairs, plus a short hash when they had to be shortened or cleaned."""
    if not options:
        return ''
    text = '_'.join(f'{k}-{v}' for k, v in sorted(options.items(), key=lambda kv: kv[0]))
    slug = re.sub(r'[^A-Za-z0-9._=+-]+', '_', text.replace(' ', ''))
    if slug != text or len(slug) > 60:
        digest = hashlib.sha1(repr(sorted((k, repr(v)) for k, v in options.items()))
                              .encode()).hexdigest()[:8]
        slug = slug[:50].rstrip('_.-') + '-' + digest
    return slug


def default_work_dir(config_path: str, options: Optional[dict] = None) -> str:
    """``work_dirs/<method>/<name>`` for ``configs/<method>/<name>.py`` (the path below the
    nearest ``configs`` folder, so ``mos/synthetic_occluded`` and ``sap/synthetic_occluded`` do
    not share a folder); ``work_dirs/<name>`` (MMEngine's convention) elsewhere. Runs with
    ``--cfg-options`` get ``<name>@<key-value...>`` so that a sweep does not write every run
    into one folder."""
    parts = osp.normpath(osp.abspath(config_path)).split(os.sep)
    if 'configs' in parts[:-1]:
        below = parts[len(parts) - 1 - parts[::-1].index('configs') + 1:]
        base = osp.join('./work_dirs', *below[:-1], osp.splitext(below[-1])[0])
    else:
        base = osp.join('./work_dirs', osp.splitext(parts[-1])[0])
    slug = _options_slug(options)
    return f'{base}@{slug}' if slug else base


def _is_pos_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def validate_cfg(cfg: Config, options: Optional[dict] = None) -> None:
    """Refuse values that cannot work, naming the config key, before anything is built.

    * ``{train,val,test}_dataloader.batch_size``, ``train_cfg.max_epochs`` /
      ``max_iters`` / ``val_interval``: positive integers; ``num_workers``: integer >= 0.
    * An identity sampler's ``batch_size`` (P x K) must equal its loader's ``batch_size`` and be
      a multiple of ``num_instances``. When ``--cfg-options`` (``options``) changed only one of
      the two batch sizes, the other follows it (logged).
    """
    options = options or {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg.get(loader)
        if not isinstance(dl, dict):
            continue
        bs = dl.get('batch_size', 1)
        if not _is_pos_int(bs):
            raise ConfigError(f'{loader}.batch_size={bs!r}: expected a positive integer.')
        nw = dl.get('num_workers', 0)
        if isinstance(nw, bool) or not isinstance(nw, int) or nw < 0:
            raise ConfigError(f'{loader}.num_workers={nw!r}: expected an integer >= 0.')
        sampler = dl.get('sampler')
        if not isinstance(sampler, dict) or 'batch_size' not in sampler:
            continue
        sbs = sampler['batch_size']
        if sbs != bs:
            own, other = f'{loader}.batch_size', f'{loader}.sampler.batch_size'
            if own in options and other not in options and _is_pos_int(bs):
                sampler['batch_size'] = sbs = bs
                print_log(f'{own}={bs} (--cfg-options): {other} set to {bs} too (the sampler '
                          'builds the P x K batches).', logger='current')
            elif other in options and own not in options and _is_pos_int(sbs):
                dl['batch_size'] = bs = sbs
                print_log(f'{other}={sbs} (--cfg-options): {own} set to {sbs} too.',
                          logger='current')
            else:
                raise ConfigError(
                    f'{own}={bs!r} but {other}={sbs!r}: they must be equal (the sampler yields '
                    'P identities x K images per batch and the loader cuts batches of its own '
                    'size). Set both, e.g. --cfg-options '
                    f'{own}={sbs} {other}={sbs}.')
        if not _is_pos_int(sbs):
            raise ConfigError(f'{loader}.sampler.batch_size={sbs!r}: expected a positive integer.')
        k = sampler.get('num_instances')
        if k is not None:
            per_batch = 2 * k if 'CrossModality' in str(sampler.get('type', '')) else k
            if not _is_pos_int(k) or sbs % per_batch:
                raise ConfigError(
                    f'{loader}.sampler.num_instances={k!r} with batch_size={sbs!r}: the batch '
                    f'size must be a positive multiple of {"2 x " if per_batch != k else ""}'
                    'num_instances (P identities x K images).')
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict):
        for key in ('max_epochs', 'max_iters', 'val_interval'):
            if key in train_cfg and not _is_pos_int(train_cfg[key]):
                raise ConfigError(f'train_cfg.{key}={train_cfg[key]!r}: expected a positive '
                                  'integer.')
    check_model_batches(cfg)


def check_model_batches(cfg: Config) -> None:
    """Call the model class's ``check_train_batches(model_cfg, train_dataloader)`` when it has
    one (MoS, MCMA: can the training sampler feed the losses?), as a ``ConfigError``."""
    model, train = cfg.get('model'), cfg.get('train_dataloader')
    if not isinstance(model, dict) or not isinstance(model.get('type'), str) or not train:
        return
    from asym_plugins.registry import MODELS
    check = getattr(MODELS.get(model['type']), 'check_train_batches', None)
    if check is not None:
        try:
            check(model, train)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def scale_epochs(cfg: Config, epochs: int) -> Config:
    """Shrink or stretch an epoch-based schedule to ``epochs`` (``tools/train.py --epochs``).

    Scales, by ``epochs / train_cfg.max_epochs``: ``max_epochs``, ``val_interval``, the
    checkpoint interval, and every epoch-based ``param_scheduler``'s ``begin`` / ``end`` /
    ``milestones`` / ``T_max`` (a boundary ``b > 0`` becomes ``max(1, round(b * f))``, so a
    warm-up keeps at least one epoch and adjacent schedulers stay adjacent). Iteration-based
    schedulers and epoch numbers inside hooks are left as they are. Returns ``cfg``.
    """
    train_cfg = cfg.get('train_cfg') or {}
    old = train_cfg.get('max_epochs')
    if old is None or train_cfg.get('type', 'EpochBasedTrainLoop') != 'EpochBasedTrainLoop':
        raise ConfigError('--epochs needs an epoch-based train loop (train_cfg.max_epochs); '
                          f'this config has train_cfg={dict(train_cfg)}.')
    if epochs < 1:
        raise ConfigError(f'--epochs must be >= 1, got {epochs}.')
    f = epochs / old

    def scale(b):
        return b if b is None or b == 0 else max(1, round(b * f))

    train_cfg['max_epochs'] = epochs
    if 'val_interval' in train_cfg:
        train_cfg['val_interval'] = min(scale(train_cfg['val_interval']), epochs)
    schedulers = cfg.get('param_scheduler') or []
    schedulers = list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]
    kept = []
    for sch in schedulers:
        if sch.get('by_epoch', True):
            for key in ('begin', 'T_max'):
                if key in sch:
                    sch[key] = scale(sch[key])
            if 'end' in sch:
                sch['end'] = min(max(scale(sch['end']), sch.get('begin', 0) + 1), epochs)
            if 'milestones' in sch:
                sch['milestones'] = [scale(m) for m in sch['milestones']]
            if sch.get('begin', 0) >= epochs:   # would start after the last epoch: never acts
                print_log(f'--epochs {epochs}: dropped {sch.get("type")} (begins after the '
                          'last epoch).', logger='current', level=30)
                continue
        kept.append(sch)
    if cfg.get('param_scheduler') is not None:
        cfg.param_scheduler = kept
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint')
    if ckpt and ckpt.get('by_epoch', True) and ckpt.get('interval', 1) > 0:
        ckpt['interval'] = min(scale(ckpt['interval']), epochs)
    print_log(f'--epochs {epochs}: schedule scaled from {old} epochs (x{f:.3g}).',
              logger='current')
    return cfg


def log_data_summary() -> str:
    """Log the files the datasets and the image loader did not use in this process (the run
    summary of ``tools/train.py`` / ``tools/test.py``); returns the text ('' when none)."""
    from asym_plugins.data.datasets.file_layout import skipped_files_summary
    from asym_plugins.data.transforms.loading import LoadReIDImage
    text = skipped_files_summary()
    if LoadReIDImage.num_skipped:
        text += (('\n' if text else '') + f'  LoadReIDImage: {LoadReIDImage.num_skipped} '
                 'undecodable image(s) skipped while loading (this process)')
    if text:
        print_log('Data summary: files not used (each was logged with its reason):\n' + text,
                  logger='current', level=30)
    return text


def use_safe_checkpoint_hook(cfg: Config) -> None:
    """``default_hooks.checkpoint`` of type ``CheckpointHook`` -> ``asym.SafeCheckpointHook``
    (same arguments; keep-last-N deletes only after the new checkpoint is in place)."""
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint')
    if isinstance(ckpt, dict) and str(ckpt.get('type', '')).split('.')[-1] == 'CheckpointHook':
        ckpt['type'] = 'asym.SafeCheckpointHook'


def apply_resume(cfg: Config, resume: Optional[str]) -> Config:
    """Set ``cfg.resume`` / ``cfg.load_from`` for ``--resume`` (call it with ``cfg.work_dir``
    set, after locking the work dir).

    * ``None``: no resume.
    * ``'latest'`` (bare ``--resume``): the checkpoint of :func:`find_resume_checkpoint`;
      nothing to resume stops with :class:`MissingInputError`.
    * ``'auto'``: the same, but with nothing to resume the run starts from scratch (logged).
    * a path: that file (must exist and pass the checkpoint checks).
    """
    from .checkpoint import checkpoint_problem
    from .workdir import find_resume_checkpoint
    if resume is None:
        return cfg
    if resume in ('auto', 'latest'):
        path, notes = find_resume_checkpoint(cfg.work_dir)
        for note in notes:
            print_log(f'--resume: {note}.', logger='current', level=30)
        if path is None:
            if resume == 'auto':
                print_log(f'--resume auto: nothing to resume in {cfg.work_dir}; training from '
                          'scratch.', logger='current', level=30)
                cfg.resume, cfg.load_from = False, None
                return cfg
            raise MissingInputError(
                f'--resume: nothing to resume in work dir {cfg.work_dir!r} ('
                + '; '.join(notes) + '). Drop --resume to train from scratch, pass '
                '--resume auto to resume only when there is a checkpoint, or --resume '
                'PATH.pth.')
        print_log(f'--resume: resuming from {path}.', logger='current')
        cfg.resume, cfg.load_from = True, path
        return cfg
    problem = checkpoint_problem(resume)
    if problem is not None:
        raise MissingInputError(f'--resume {resume!r}: the checkpoint {problem}; pass an '
                                'existing .pth, or "auto" / no value for the latest in '
                                '--work-dir.')
    cfg.resume, cfg.load_from = True, resume
    return cfg


def prepare_runtime_cfg(cfg: Config, args) -> Config:
    """Apply the common command-line flags of ``tools/train.py`` and ``tools/test.py``.

    ``args`` needs ``launcher``, ``work_dir``, ``cfg_options``; optional ``amp``, ``resume``
    (:func:`apply_resume`), ``epochs`` (:func:`scale_epochs`, applied after ``cfg_options``),
    ``work_dir_per_options`` (default True: the default work dir tells ``--cfg-options``
    apart, see :func:`default_work_dir`).
    Checks the config (:func:`validate_cfg`) and its local inputs (:func:`check_local_paths`)
    before anything is built, then fills ``num_classes=None`` (:func:`fill_num_classes`).
    On a machine without CUDA and with a launcher, the process group is initialised here with
    gloo (MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally).
    """
    check_cfg_option_keys(cfg, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    validate_cfg(cfg, args.cfg_options)
    if getattr(args, 'epochs', None) is not None:
        scale_epochs(cfg, args.epochs)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:   # tools/test.py logs beside the training it tests
        per_options = getattr(args, 'work_dir_per_options', True)
        cfg.work_dir = default_work_dir(cfg.filename, args.cfg_options if per_options else None)

    check_local_paths(cfg)
    fill_num_classes(cfg)   # model num_classes=None: the training split's identities
    if getattr(args, 'amp', False):
        if torch.cuda.is_available():
            optim = cfg.optim_wrapper
            if optim.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
                print_log('AMP is already enabled in the config.', logger='current')
            else:
                optim.type = 'AmpOptimWrapper'
                optim.setdefault('loss_scale', 'dynamic')
        else:
            print_log('--amp needs a CUDA device; none is available, training in float32.',
                      logger='current', level=30)

    hooks = cfg.setdefault('custom_hooks', [])
    for name in ('PortableCheckpointHook', 'ProgressBarHook'):
        if not any(str(h.get('type', '')).split('.')[-1] == name for h in hooks):
            hooks.append(dict(type=f'asym.{name}'))
    use_safe_checkpoint_hook(cfg)
    apply_resume(cfg, getattr(args, 'resume', None))

    if args.launcher != 'none' and not torch.cuda.is_available():
        _set_gloo_defaults(cfg)
        if args.launcher == 'pytorch' and not dist.is_initialized():
            dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                    world_size=int(os.environ['WORLD_SIZE']))
    return cfg


def runner_with_checkpoint(cfg: Config, checkpoint: str, config_path: str = ''):
    """The config's Runner (its own ``runner_type`` when set) with ``checkpoint`` loaded
    strictly into the model (:func:`~asym_plugins.engine.checkpoint.load_checkpoint_strict`)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from .checkpoint import load_checkpoint_strict
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    load_checkpoint_strict(runner, checkpoint, config_path=config_path)
    return runner


def trained_runner(config: str, checkpoint: str, model_type: str, work_dir: str,
                   cfg_options: Optional[dict] = None):
    """A Runner of ``config`` holding the trained ``checkpoint``, for the tools that inspect a
    trained model (``tools/mcma_prompt_check.py``, ``tools/sap_ssd_check.py``). A missing
    config or checkpoint, or a config whose ``model.type`` is not ``model_type``, stops with
    the path / field to change; the config goes through :func:`prepare_runtime_cfg`."""
    from types import SimpleNamespace
    if not osp.isfile(config):
        raise MissingInputError(f'config {config!r} does not exist.')
    if not osp.isfile(checkpoint):
        raise MissingInputError(f'checkpoint {checkpoint!r} does not exist.')
    cfg = Config.fromfile(config)
    found = cfg.get('model', {}).get('type')
    if found not in (model_type, f'asym.{model_type}'):
        raise ConfigError(f'{config}: model.type is {found!r}; this check needs a {model_type} '
                          'config.')
    args = SimpleNamespace(cfg_options=cfg_options, work_dir=work_dir, launcher='none',
                           amp=False, resume=None, work_dir_per_options=False)
    cfg = prepare_runtime_cfg(cfg, args)
    cfg.load_from = None  # loaded strictly by runner_with_checkpoint
    return runner_with_checkpoint(cfg, checkpoint, config_path=config)
