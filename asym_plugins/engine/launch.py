"""Settings that let MMEngine's Runner run on any machine: GPUs or CPUs only, 1 or N processes."""
import copy
import difflib
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log


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
                        raise KeyError(f'--cfg-options: unknown config key {key!r}; did you mean '
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
            shown = ', '.join(keys[:3]) + (f' (+{len(keys) - 3} more)' if len(keys) > 3 else '')
            lines.append(f'  {value!r}: {what}; or point the config elsewhere with '
                         f'--cfg-options {keys[0]}=/your/path (keys: {shown})')
        raise FileNotFoundError(
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


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<method>/<name>`` for ``configs/<method>/<name>.py`` (the path below the
    nearest ``configs`` folder, so ``mos/synthetic_occluded`` and ``sap/synthetic_occluded`` do
    not share a folder); ``work_dirs/<name>`` (MMEngine's convention) elsewhere."""
    parts = osp.normpath(osp.abspath(config_path)).split(os.sep)
    if 'configs' in parts[:-1]:
        below = parts[len(parts) - 1 - parts[::-1].index('configs') + 1:]
        return osp.join('./work_dirs', *below[:-1], osp.splitext(below[-1])[0])
    return osp.join('./work_dirs', osp.splitext(parts[-1])[0])


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
        raise ValueError('--epochs needs an epoch-based train loop (train_cfg.max_epochs); '
                         f'this config has train_cfg={dict(train_cfg)}.')
    if epochs < 1:
        raise ValueError(f'--epochs must be >= 1, got {epochs}.')
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


def prepare_runtime_cfg(cfg: Config, args) -> Config:
    """Apply the common command-line flags of ``tools/train.py`` and ``tools/test.py``.

    ``args`` needs ``launcher``, ``work_dir``, ``cfg_options``; optional ``amp``, ``resume``,
    ``epochs`` (:func:`scale_epochs`, applied after ``cfg_options``).
    On a machine without CUDA and with a launcher, the process group is initialised here with
    gloo (MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally).
    """
    check_cfg_option_keys(cfg, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if getattr(args, 'epochs', None) is not None:
        scale_epochs(cfg, args.epochs)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(cfg.filename)

    check_local_paths(cfg)
    fill_num_classes(cfg)
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

    resume = getattr(args, 'resume', None)
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume {resume!r}: no such checkpoint file; pass an '
                                    'existing .pth or "auto" for the latest in --work-dir.')
        cfg.resume, cfg.load_from = True, resume

    if args.launcher != 'none' and not torch.cuda.is_available():
        _set_gloo_defaults(cfg)
        if args.launcher == 'pytorch' and not dist.is_initialized():
            dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                    world_size=int(os.environ['WORLD_SIZE']))
    return cfg
