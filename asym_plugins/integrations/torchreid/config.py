"""yacs configuration: torchreid's default keys plus an ``asym`` section.

torchreid's ``scripts/default_config.py`` is not part of the installed package, so
:func:`get_default_config` re-states its keys (``model``, ``data``, ``sampler``, ``train``,
``sgd``, ``adam``, ``rmsprop``, ``loss``, ``test``, ``market1501``, ``cuhk03``, ``video``) with
torchreid's defaults except ``model.pretrained`` (unset = False: nothing is downloaded here;
``True`` or a local checkpoint path, see :mod:`.models`; yaml and command line may give either a
bool or a path), and adds:

``asym.method``
    ``'baseline' | 'mos' | 'sap' | 'sim' | 'mcma' | 'agw'``: an entry of
    :data:`~.registration.METHODS`, which names its engine and engine arguments.
``asym.model_kwargs``
    extra factory arguments (free keys), e.g. ``img_size`` for the ViT models (default: the
    data size), ``tau`` / ``margin`` for MoS, ``num_parts`` for SAP.
``asym.synthetic``
    world settings of the ``synthetic_*`` datasets: ``seed``, ``num_train_ids``,
    ``num_test_ids`` (0: the preset's), ``world`` (free keys: any preset setting); the image
    size is ``data.height`` x ``data.width``.
``asym.rerank``
    ``type`` (``'' | 'k_reciprocal' | 'sim'``), ``k1``, ``k2``, ``lambda_value`` (k-reciprocal),
    ``sim_mode``, ``sim_preset`` and ``sim`` (free keys: ``lam``, ``K``, ``k_q``, ``k_g``,
    ``alpha``...); ``compare`` also reports the figures without re-ranking.
``asym.<method>``
    the method's own keys, from its :data:`~.registration.METHODS` entry (``config``):
    ``asym.mos``: ``cp_lambda``, ``cp_eps``, ``cp_topk``, ``top_r`` (test-time CP
    re-scoring); ``asym.sap``: ``teacher`` (a TEACHERS type) and ``teacher_kwargs`` (free
    keys); ``asym.mcma``: ``text_batch_size``; ``asym.agw``: ``gray_prob`` (visible training
    images turned grey, 0: off) and the deprecated ``num_instances`` (K in total; 0 = unset:
    the cross-modality batches take ``sampler.num_instances`` images per identity AND modality,
    the meaning ``num_instances`` has everywhere).
``asym.clip_grad``
    max gradient norm (0: off).

Examples::
    >>> from asym_plugins.integrations.torchreid.config import load_yacs_config
    >>> cfg = load_yacs_config('configs/torchreid/mos.yaml')
    >>> cfg.asym.method
    'mos'
"""
import warnings
from typing import Any, Dict

from yacs.config import CfgNode as CN

from .registration import FREE_KEYS, METHOD_NAMES, METHODS, method_entry

__all__ = ['get_default_config', 'imagedata_kwargs', 'optimizer_kwargs',
           'lr_scheduler_kwargs', 'engine_run_kwargs', 'engine_kwargs', 'model_kwargs',
           'reranker_spec', 'synthetic_settings', 'load_yacs_config']


def _torchreid_defaults() -> CN:
    cfg = CN()
    cfg.model = CN()
    cfg.model.name = 'bot_resnet50'
    # False / True / a local path (asym_plugins torchreid models). None (= False) as the default
    # lets the yaml give a bool or a str: yacs only changes a key's type from None.
    cfg.model.pretrained = None
    cfg.model.load_weights = ''
    cfg.model.resume = ''

    cfg.data = CN()
    cfg.data.type = 'image'
    cfg.data.root = 'reid-data'
    cfg.data.sources = ['market1501']
    cfg.data.targets = ['market1501']
    cfg.data.workers = 4
    cfg.data.split_id = 0
    cfg.data.height = 256
    cfg.data.width = 128
    cfg.data.combineall = False
    cfg.data.transforms = ['random_flip']
    cfg.data.k_tfm = 1
    cfg.data.norm_mean = [0.485, 0.456, 0.406]
    cfg.data.norm_std = [0.229, 0.224, 0.225]
    cfg.data.save_dir = 'log'
    cfg.data.load_train_targets = False

    cfg.market1501 = CN()
    cfg.market1501.use_500k_distractors = False
    cfg.cuhk03 = CN()
    cfg.cuhk03.labeled_images = False
    cfg.cuhk03.classic_split = False
    cfg.cuhk03.use_metric_cuhk03 = False

    cfg.sampler = CN()
    cfg.sampler.train_sampler = 'RandomSampler'
    cfg.sampler.train_sampler_t = 'RandomSampler'
    cfg.sampler.num_instances = 4
    cfg.sampler.num_cams = 1
    cfg.sampler.num_datasets = 1

    cfg.video = CN()
    cfg.video.seq_len = 15
    cfg.video.sample_method = 'evenly'
    cfg.video.pooling_method = 'avg'

    cfg.train = CN()
    cfg.train.optim = 'adam'
    cfg.train.lr = 0.0003
    cfg.train.weight_decay = 5e-4
    cfg.train.max_epoch = 60
    cfg.train.start_epoch = 0
    cfg.train.batch_size = 32
    cfg.train.fixbase_epoch = 0
    cfg.train.open_layers = ['classifier']
    cfg.train.staged_lr = False
    cfg.train.new_layers = ['classifier']
    cfg.train.base_lr_mult = 0.1
    cfg.train.lr_scheduler = 'single_step'
    cfg.train.stepsize = [20]
    cfg.train.gamma = 0.1
    cfg.train.print_freq = 20
    cfg.train.seed = 1

    cfg.sgd = CN()
    cfg.sgd.momentum = 0.9
    cfg.sgd.dampening = 0.0
    cfg.sgd.nesterov = False
    cfg.rmsprop = CN()
    cfg.rmsprop.alpha = 0.99
    cfg.adam = CN()
    cfg.adam.beta1 = 0.9
    cfg.adam.beta2 = 0.999

    cfg.loss = CN()
    cfg.loss.name = 'triplet'
    cfg.loss.softmax = CN()
    cfg.loss.softmax.label_smooth = True
    cfg.loss.triplet = CN()
    cfg.loss.triplet.margin = 0.3
    cfg.loss.triplet.weight_t = 1.0
    cfg.loss.triplet.weight_x = 0.0

    cfg.test = CN()
    cfg.test.batch_size = 100
    cfg.test.dist_metric = 'euclidean'
    cfg.test.normalize_feature = False
    cfg.test.ranks = [1, 5, 10, 20]
    cfg.test.evaluate = False
    cfg.test.eval_freq = -1
    cfg.test.start_eval = 0
    cfg.test.rerank = False
    cfg.test.visrank = False
    cfg.test.visrank_topk = 10
    return cfg


def get_default_config() -> CN:
    """torchreid's default configuration keys plus the ``asym`` section (module docstring)."""
    cfg = _torchreid_defaults()
    cfg.asym = CN()
    cfg.asym.method = 'baseline'
    cfg.asym.model_kwargs = CN(new_allowed=True)
    cfg.asym.clip_grad = 0.0
    cfg.asym.results_file = 'results.json'

    cfg.asym.synthetic = CN()
    cfg.asym.synthetic.seed = 0
    cfg.asym.synthetic.num_train_ids = 0
    cfg.asym.synthetic.num_test_ids = 0
    cfg.asym.synthetic.world = CN(new_allowed=True)

    cfg.asym.rerank = CN()
    cfg.asym.rerank.type = ''
    cfg.asym.rerank.compare = True
    cfg.asym.rerank.k1 = 20
    cfg.asym.rerank.k2 = 6
    cfg.asym.rerank.lambda_value = 0.3
    cfg.asym.rerank.sim_mode = 'official'
    cfg.asym.rerank.sim_preset = ''
    cfg.asym.rerank.sim = CN(new_allowed=True)

    for entry in METHODS:  # asym.<method>: the keys of the method's entry
        if entry.config:
            node = CN()
            for key, value in entry.config.items():
                node[key] = CN(new_allowed=True) if value == FREE_KEYS else value
            cfg.asym[entry.name] = node
    return cfg


def load_yacs_config(path: str, opts=None) -> CN:
    """Defaults, then the yaml at ``path``, then ``opts`` (``['KEY', 'VALUE', ...]``); an
    unknown key raises (yacs) naming it. Frozen on return."""
    cfg = get_default_config()

    def merge_opts():
        if not opts:
            return
        if 'model.pretrained' in list(opts)[0::2]:
            cfg.model.pretrained = None  # the yaml's bool may become a path, and back
        cfg.merge_from_list(list(opts))

    for source, merge in ((path, lambda: cfg.merge_from_file(path)),
                          ('command-line opts', merge_opts)):
        try:
            merge()
        except (KeyError, AssertionError) as e:  # yacs: KeyError (file) / AssertionError (list)
            msg = e.args[0] if e.args else e
            raise KeyError(f'{source}: {msg}. The keys are torchreid\'s default config plus the '
                           f'asym section (asym_plugins/integrations/torchreid/config.py).') \
                from None
    if cfg.asym.method not in METHOD_NAMES:
        raise ValueError(f'{path}: asym.method={cfg.asym.method!r}; expected one of '
                         f'{METHOD_NAMES}.')
    cfg.freeze()
    return cfg


def _to_dict(node: Any) -> Any:
    if isinstance(node, CN):
        return {k: _to_dict(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_dict(v) for v in node]
    return node


def imagedata_kwargs(cfg: CN) -> Dict[str, Any]:
    """Arguments of torchreid's ``ImageDataManager`` from ``cfg``."""
    return dict(root=cfg.data.root, sources=list(cfg.data.sources),
                targets=list(cfg.data.targets), height=cfg.data.height, width=cfg.data.width,
                transforms=list(cfg.data.transforms), k_tfm=cfg.data.k_tfm,
                norm_mean=list(cfg.data.norm_mean), norm_std=list(cfg.data.norm_std),
                use_gpu=False, split_id=cfg.data.split_id, combineall=cfg.data.combineall,
                load_train_targets=cfg.data.load_train_targets,
                batch_size_train=cfg.train.batch_size, batch_size_test=cfg.test.batch_size,
                workers=cfg.data.workers, num_instances=cfg.sampler.num_instances,
                num_cams=cfg.sampler.num_cams, num_datasets=cfg.sampler.num_datasets,
                train_sampler=cfg.sampler.train_sampler,
                train_sampler_t=cfg.sampler.train_sampler_t,
                cuhk03_labeled=cfg.cuhk03.labeled_images,
                cuhk03_classic_split=cfg.cuhk03.classic_split,
                market1501_500k=cfg.market1501.use_500k_distractors)


def optimizer_kwargs(cfg: CN) -> Dict[str, Any]:
    """Arguments of torchreid's ``optim.build_optimizer`` (besides the model)."""
    return dict(optim=cfg.train.optim, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                momentum=cfg.sgd.momentum, sgd_dampening=cfg.sgd.dampening,
                sgd_nesterov=cfg.sgd.nesterov, rmsprop_alpha=cfg.rmsprop.alpha,
                adam_beta1=cfg.adam.beta1, adam_beta2=cfg.adam.beta2,
                staged_lr=cfg.train.staged_lr, new_layers=list(cfg.train.new_layers),
                base_lr_mult=cfg.train.base_lr_mult)


def lr_scheduler_kwargs(cfg: CN) -> Dict[str, Any]:
    """Arguments of torchreid's ``optim.build_lr_scheduler`` (besides the optimizer)."""
    return dict(lr_scheduler=cfg.train.lr_scheduler, stepsize=list(cfg.train.stepsize),
                gamma=cfg.train.gamma, max_epoch=cfg.train.max_epoch)


def engine_run_kwargs(cfg: CN) -> Dict[str, Any]:
    """Arguments of ``Engine.run``."""
    return dict(save_dir=cfg.data.save_dir, max_epoch=cfg.train.max_epoch,
                start_epoch=cfg.train.start_epoch, fixbase_epoch=cfg.train.fixbase_epoch,
                open_layers=list(cfg.train.open_layers), start_eval=cfg.test.start_eval,
                eval_freq=cfg.test.eval_freq, test_only=cfg.test.evaluate,
                print_freq=cfg.train.print_freq, dist_metric=cfg.test.dist_metric,
                normalize_feature=cfg.test.normalize_feature, visrank=cfg.test.visrank,
                visrank_topk=cfg.test.visrank_topk,
                use_metric_cuhk03=cfg.cuhk03.use_metric_cuhk03, ranks=list(cfg.test.ranks),
                rerank=cfg.test.rerank)


def engine_kwargs(cfg: CN) -> Dict[str, Any]:
    """Arguments of the method's engine besides the data manager, model and optimizer:
    ``clip_grad`` (``asym.clip_grad``) and those of its :data:`~.registration.METHODS` entry."""
    return dict(clip_grad=cfg.asym.clip_grad or None,
                **method_entry(cfg.asym.method).engine_kwargs(cfg))


def model_kwargs(cfg: CN) -> Dict[str, Any]:
    """Extra factory arguments: ``asym.model_kwargs``, plus ``img_size`` = (height, width) for
    the ViT-based models when not given."""
    kw = _to_dict(cfg.asym.model_kwargs)
    if cfg.model.name.startswith(('sap_', 'mcma_')):
        kw.setdefault('img_size', (cfg.data.height, cfg.data.width))
    for key, value in list(kw.items()):
        if isinstance(value, list) and key in ('img_size',):
            kw[key] = tuple(value)
    return kw


def reranker_spec(cfg: CN):
    """The re-ranker of ``asym.rerank`` (None when ``type`` is empty), as a
    :func:`~.registration.build_reranker` spec."""
    r = cfg.asym.rerank
    if not r.type:
        return None
    if r.type == 'k_reciprocal':
        return dict(type='k_reciprocal', k1=r.k1, k2=r.k2, lambda_value=r.lambda_value)
    if r.type == 'sim':
        spec = dict(type='sim', mode=r.sim_mode, **_to_dict(r.sim))
        if r.sim_preset:
            spec['preset'] = r.sim_preset
        return spec
    return dict(type=r.type)


def synthetic_settings(cfg: CN) -> Dict[str, Any]:
    """World settings of the ``synthetic_*`` datasets from ``asym.synthetic`` and the data
    size."""
    s = cfg.asym.synthetic
    return dict(seed=s.seed, num_train_ids=s.num_train_ids or None,
                num_test_ids=s.num_test_ids or None,
                img_size=(cfg.data.height, cfg.data.width),
                world_cfg=_to_dict(s.world) or None)


def __getattr__(name: str):
    # Deprecated (one release): load_config is load_yacs_config (the MMEngine config loader of
    # the visualiser is another load_config); METHODS is registration.METHOD_NAMES.
    if name in ('load_config', 'METHODS'):
        new = 'load_yacs_config' if name == 'load_config' else 'registration.METHOD_NAMES'
        warnings.warn(f'{__name__}.{name} is deprecated; use {new}.', DeprecationWarning,
                      stacklevel=2)
        return load_yacs_config if name == 'load_config' else METHOD_NAMES
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
