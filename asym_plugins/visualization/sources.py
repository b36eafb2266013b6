"""Where the pictures' data comes from: a config (+ checkpoint) run on its test set, a features
``.npz`` of ``tools/test.py --save-features``, and the images behind ``img_path`` values."""
import copy
import os.path as osp
from types import SimpleNamespace
from typing import Dict, List, Optional

import cv2
import numpy as np
import torch

from asym_plugins.engine.cli import MissingInputError
from asym_plugins.evaluation.metrics.reid_metric import FEATURE_KEYS, PATH_KEYS
from asym_plugins.evaluation.metrics.reid_metric import load_features_npz as _load_features


def load_config(path: str, cfg_options: Optional[dict] = None):
    """Read a config (its ``custom_imports`` imported), apply ``--cfg-options`` (typos refused
    as ``tools/train.py`` does), check its local inputs and set the default scope."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import asym_plugins  # noqa: F401
    from asym_plugins.engine.launch import (
        check_cfg_option_keys,
        check_local_paths,
        fill_num_classes,
    )
    if not osp.isfile(path):
        raise MissingInputError(f'config {path!r} does not exist.')
    cfg = Config.fromfile(path)
    check_cfg_option_keys(cfg, cfg_options)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    check_local_paths(cfg)
    fill_num_classes(cfg)
    init_default_scope(cfg.get('default_scope', 'asym'))
    return cfg


def build_model(cfg, checkpoint: str, device: Optional[str] = None):
    """The config's model with ``checkpoint`` loaded strictly, in eval mode."""
    from mmengine.registry import MODELS

    from asym_plugins.engine.checkpoint import load_checkpoint_strict
    if not checkpoint or not osp.isfile(checkpoint):
        raise MissingInputError(f'checkpoint {checkpoint!r} does not exist (train one with '
                                f'tools/train.py {osp.basename(cfg.filename or "CONFIG")}).')
    model = MODELS.build(copy.deepcopy(cfg.model))
    load_checkpoint_strict(SimpleNamespace(model=model), checkpoint,
                           config_path=cfg.filename or '')
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    return model.to(device).eval()


def build_test_loader(cfg, batch_size: Optional[int] = None):
    """The config's test dataloader, in this process (no workers)."""
    from mmengine.runner import Runner
    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    if batch_size:
        loader_cfg['batch_size'] = batch_size
    return Runner.build_dataloader(loader_cfg)


@torch.no_grad()
def predict(model, loader) -> List:
    """``model(mode='predict')`` over a dataloader: the data samples, in dataset order."""
    out = []
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        out.extend(model(**data, mode='predict'))
    return out


def reid_features(samples: List) -> Dict[str, np.ndarray]:
    """Predicted samples -> the arrays of a features npz (``FEATURE_KEYS`` + ``PATH_KEYS``),
    split by each sample's ``split`` metainfo (query / gallery)."""
    out = {}
    for side, name in (('q', 'query'), ('g', 'gallery')):
        part = [s for s in samples if s.metainfo.get('split') == name]
        if not part:
            raise ValueError(f'the test set has no {name} sample: a ranked list needs a '
                             'query / gallery test dataloader (QueryGalleryDataset)')
        out[f'{side}f'] = torch.stack([s.pred_feature.cpu().float() for s in part]).numpy()
        out[f'{side}_pids'] = np.array([int(s.metainfo['pid']) for s in part], np.int64)
        out[f'{side}_camids'] = np.array([int(s.metainfo.get('camid', -1)) for s in part],
                                         np.int64)
        out[f'{side}_img_paths'] = np.array([str(s.metainfo.get('img_path', '')) for s in part])
    return out


def load_features_npz(path: str) -> Dict[str, np.ndarray]:
    """Read a ``tools/test.py --save-features`` file; image paths are required (the checks of
    :func:`asym_plugins.evaluation.metrics.reid_metric.load_features_npz`)."""
    return _load_features(path, with_paths=True)


def read_rgb(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f'cannot read image {path!r}')
    return img[..., ::-1].copy()


class ImageSource:
    """Images by ``img_path``: from a dataset (in-memory images such as the synthetic world's,
    whose paths are virtual names) or else from disk."""

    def __init__(self, dataset=None) -> None:
        self.dataset = dataset
        self._index: Optional[Dict[str, int]] = None

    def _lookup(self, path: str) -> Optional[int]:
        if self.dataset is None:
            return None
        if self._index is None:
            self._index = {}
            for i in range(len(self.dataset)):
                self._index.setdefault(str(self.dataset.get_data_info(i).get('img_path')), i)
        return self._index.get(path)

    def load(self, path: str) -> np.ndarray:
        idx = self._lookup(str(path))
        if idx is not None:
            info = self.dataset.get_data_info(idx)
            if info.get('img') is not None:
                return np.asarray(info['img'])
        if osp.isfile(path):
            return read_rgb(path)
        hint = ('pass --config (the config the features were computed with) so that its test '
                'set can provide the images' if self.dataset is None else
                "the config's test set has no image with that path")
        raise MissingInputError(f'image {path!r} not found: {hint}')


def dataset_image(dataset, idx: int) -> np.ndarray:
    """RGB image of sample ``idx`` of a dataset (in memory, else read from ``img_path``)."""
    info = dataset.get_data_info(int(idx))
    return np.asarray(info['img']) if info.get('img') is not None else read_rgb(info['img_path'])


def test_dataset(cfg):
    """The config's test dataset, built without workers (for :class:`ImageSource`)."""
    from mmengine.registry import DATASETS
    return DATASETS.build(copy.deepcopy(cfg.test_dataloader.dataset))


__all__ = ['load_config', 'build_model', 'build_test_loader', 'predict', 'reid_features',
           'load_features_npz', 'read_rgb', 'ImageSource', 'dataset_image', 'test_dataset',
           'FEATURE_KEYS', 'PATH_KEYS']
