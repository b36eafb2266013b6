"""Every MMEngine config under configs/ parses, and every leaf builds its model and its datasets.

Real-data configs run on the synthetic writer's layout of the same dataset
(:func:`asym_plugins.data.synthetic.writer.write_layout`, a few identities, written once per
layout into a session folder), with every ``data_root`` / teacher ``mask_root`` pointed there;
the text encoders' ``checkpoints/bert-base-uncased`` folder is swapped for the packaged MiniLM
(nothing else is loaded: weights of ``init_cfg`` are read only by ``init_weights``). The
number of classes left ``None`` is filled as the tools fill it (``fill_num_classes``) and must
equal the identities the writer put in the training split. One sample of every dataset goes
through its pipeline.
"""
import copy
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import asym_plugins  # noqa: F401
from asym_plugins.data.synthetic.writer import LAYOUT_FOLDERS, write_layout
from asym_plugins.engine.launch import fill_num_classes
from asym_plugins.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ALL = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                                                     recursive=True))
LEAVES = [p for p in ALL if '_base_' not in p.split(osp.sep)]

#: dataset type -> writer layout of the same release.
LAYOUT_OF = {'Market1501': 'market1501', 'DukeMTMCReID': 'dukemtmc', 'MSMT17': 'msmt17_v2',
             'OccludedDuke': 'occluded_duke', 'OccludedREID': 'occluded_reid',
             'PartialREID': 'partial_reid', 'PartialILIDS': 'partial_ilids',
             'PDukeMTMCReID': 'p_dukemtmc', 'PETHZ': 'p_ethz', 'SYSUMM01': 'sysu_mm01',
             'RegDB': 'regdb', 'CUHKPEDES': 'cuhk_pedes', 'ICFGPEDES': 'icfg_pedes',
             'RSTPReid': 'rstpreid'}
#: P-ETHZ is test-only on disk (its identities are split by the parser): more of them.
SIZES = {'p_ethz': dict(num_train_ids=4, num_test_ids=6)}
TEXT_ENCODER = 'checkpoints/bert-base-uncased'


@pytest.fixture(scope='session')
def layouts(tmp_path_factory):
    """``layout -> (data_root, summary)``, each written on first use."""
    root, cache = tmp_path_factory.mktemp('layouts'), {}

    def get(layout):
        if layout not in cache:
            out = str(root / layout)
            sizes = SIZES.get(layout, dict(num_train_ids=4, num_test_ids=3))
            cache[layout] = (out, write_layout(layout, out, **sizes))
        return cache[layout]
    return get


def _nodes(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _nodes(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _nodes(v)


def _redirect(cfg, layouts):
    """Point the config at writer layouts and small synthetic worlds; returns the layout of
    the training set (or None)."""
    train = cfg.train_dataloader.dataset
    train_layout = LAYOUT_OF.get(train.get('type'))
    for node in _nodes(cfg._cfg_dict):
        kind = node.get('type')
        if kind in LAYOUT_OF:
            node['data_root'] = layouts(LAYOUT_OF[kind])[0]
        elif kind == 'SyntheticReIDDataset':
            node.update(num_train_ids=8, num_test_ids=3)
        if 'mask_root' in node:   # SAP's teacher masks: those of the training images
            release = osp.join(layouts(train_layout)[0], LAYOUT_FOLDERS[train_layout])
            node.update(mask_root=osp.join(release, 'part_masks'), img_root=release,
                        label_set='asym')   # the writer mirrors the image tree
        for key in ('tokenizer', 'pretrained'):
            if node.get(key) == TEXT_ENCODER:
                node[key] = 'minilm'
    return train_layout


def _loader(cfg, key):
    loader = copy.deepcopy(cfg[key].to_dict())
    loader.update(num_workers=0, persistent_workers=False)
    sampler = loader['sampler']
    if 'num_instances' in sampler:   # P x K batches: P = 2 fits the few writer identities
        k = sampler['num_instances'] * (2 if 'CrossModality' in sampler['type'] else 1)
        loader['batch_size'] = sampler['batch_size'] = 2 * k
    return Runner.build_dataloader(loader, seed=0)


@pytest.mark.parametrize('path', ALL)
def test_config_parses(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    assert cfg.filename.endswith(path)


@pytest.mark.parametrize('path', LEAVES)
def test_leaf_builds_model_and_datasets(path, layouts):
    cfg = Config.fromfile(osp.join(ROOT, path))
    init_default_scope(cfg.get('default_scope', 'asym'))
    train_layout = _redirect(cfg, layouts)
    model_cfg = cfg.model
    slot = model_cfg if 'num_classes' in model_cfg else model_cfg.get('head', {})
    left_open = slot.get('num_classes', 0) is None
    fill_num_classes(cfg)
    if left_open:
        if train_layout == 'p_ethz':   # the parser's seeded 1:1 split of all identities
            expected = layouts('p_ethz')[1]['splits']['query']['pids'] // 2
        else:
            expected = layouts(train_layout)[1]['splits']['train']['pids']
        assert slot['num_classes'] == expected, path
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0

    train = _loader(cfg, 'train_dataloader')
    assert len(train.dataset) > 0
    sample = train.dataset[0]
    assert sample['inputs'].shape[0] == 3 and sample['data_samples'].gt_label is not None
    for key in ('val_dataloader', 'test_dataloader'):
        test = _loader(cfg, key)
        meta = test.dataset.metainfo
        if 'num_query' in meta:    # query + gallery, one test set
            assert meta['num_query'] > 0 and meta['num_gallery'] > 0
            assert test.dataset.get_data_info(0)['split'] == 'query'
            assert test.dataset.get_data_info(len(test.dataset) - 1)['split'] == 'gallery'
        assert test.dataset[0]['inputs'].shape[0] == 3
    # the image size of the pipeline is the one the model is built for, where it says one
    size = getattr(getattr(model, 'backbone', None), 'img_size', None) or \
        getattr(getattr(model, 'image_encoder', None), 'img_size', None)
    if size is not None:
        assert tuple(sample['inputs'].shape[-2:]) == tuple(size), path


def test_p_ethz_mos_uses_the_seeded_identity_split(layouts):
    """The P-ETHZ leaf trains and tests on disjoint halves of the identities."""
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mos', 'p_ethz.py'))
    init_default_scope('asym')
    _redirect(cfg, layouts)
    train_set = _loader(cfg, 'train_dataloader').dataset
    train = {train_set.get_data_info(i)['pid'] for i in range(len(train_set))}
    test = _loader(cfg, 'test_dataloader').dataset
    query = {test.get_data_info(i)['pid'] for i in range(test.metainfo['num_query'])}
    n = layouts('p_ethz')[1]['splits']['query']['pids']
    assert len(train) == n // 2 and len(query) == n - n // 2 and not train & query
    assert cfg.test_evaluator.type == 'MoSMetric'


def test_tools_fill_num_classes_from_the_training_split(layouts, tmp_path):
    """``prepare_runtime_cfg`` (tools/train.py, tools/test.py) fills ``num_classes=None``; an
    explicit number is kept."""
    from types import SimpleNamespace

    from asym_plugins.engine.launch import prepare_runtime_cfg
    root, summary = layouts('market1501')
    for path, expected in (('mos/market1501.py', summary['splits']['train']['pids']),
                           ('mos/synthetic_occluded.py', 100)):
        cfg = Config.fromfile(osp.join(ROOT, 'configs', path))
        opts = {'train_dataloader.dataset.data_root': root,
                'val_dataloader.dataset.query.data_root': root,
                'val_dataloader.dataset.gallery.data_root': root,
                'test_dataloader.dataset.query.data_root': root,
                'test_dataloader.dataset.gallery.data_root': root,
                'model.backbone.init_cfg': None}   # no ImageNet weights here
        if 'synthetic' in path:
            opts = {}
        args = SimpleNamespace(launcher='none', work_dir=str(tmp_path / 'w'), cfg_options=opts)
        cfg = prepare_runtime_cfg(cfg, args)
        assert cfg.model.head.num_classes == expected, path
