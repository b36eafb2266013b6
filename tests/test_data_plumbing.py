"""ReIDDataset, transforms and the P x K sampler, against hand-checked expectations."""
from collections import Counter

import cv2
import numpy as np
import pytest
import torch

from asym_plugins.data.datasets.base import DatasetFormatError, ReIDDataset
from asym_plugins.data.samplers import IdentitySampler
from asym_plugins.data.transforms import LoadReIDImage, PackReIDInputs, PadRandomCrop, RandomErasing
from asym_plugins.registry import TRANSFORMS


def _samples(pids, cams=2):
    return [dict(img_path=f'{p}_{i}.jpg', pid=p, camid=i % cams) for i, p in enumerate(pids)]


def test_relabel_train_only_and_metainfo():
    ds = ReIDDataset(data_list=_samples([30, 10, 10, 20, -1]), split='train')
    assert [ds.get_data_info(i)['label'] for i in range(len(ds))] == [2, 0, 0, 1]
    assert ds.metainfo['num_pids'] == 3 and ds.num_classes == 3
    q = ReIDDataset(data_list=_samples([30, 10]), split='query')
    assert 'label' not in q.get_data_info(0) and q.get_data_info(0)['split'] == 'query'
    assert q.get_data_info(0)['modality'] == 'visible'


def test_dataset_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match='split'):
        ReIDDataset(data_list=_samples([1]), split='test')
    with pytest.raises(DatasetFormatError, match='lacks'):
        ReIDDataset(data_list=[dict(img_path='a.jpg', pid=1)], split='query')
    with pytest.raises(DatasetFormatError, match='modality'):
        ReIDDataset(data_list=[dict(img_path='a.jpg', pid=1, camid=0, modality='rgb')])
    with pytest.raises(DatasetFormatError, match='empty'):
        ReIDDataset(data_list=[], split='query')

    class Missing(ReIDDataset):
        def parse_split(self):
            self.check_data_root('bounding_box_train')

    with pytest.raises(FileNotFoundError, match='data_root'):
        Missing(data_root=str(tmp_path / 'nope'))
    with pytest.raises(FileNotFoundError, match='bounding_box_train'):
        Missing(data_root=str(tmp_path))


def test_load_image_and_mask_from_disk(tmp_path):
    img = np.zeros((8, 4, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    cv2.imwrite(str(tmp_path / 'a.png'), img[..., ::-1])
    mask = np.arange(32, dtype=np.uint8).reshape(8, 4) % 7
    cv2.imwrite(str(tmp_path / 'a_mask.png'), mask)
    out = LoadReIDImage()(dict(img_path=str(tmp_path / 'a.png'),
                               part_mask_path=str(tmp_path / 'a_mask.png')))
    assert out['img'][0, 0].tolist() == [200, 0, 0]  # read back as RGB
    np.testing.assert_array_equal(out['gt_seg_map'], mask)


def test_undecodable_image_skipped_or_fatal(tmp_path):
    bad = tmp_path / 'bad.jpg'
    bad.write_bytes(b'not an image')
    before = LoadReIDImage.num_skipped
    assert LoadReIDImage()(dict(img_path=str(bad))) is None
    assert LoadReIDImage.num_skipped == before + 1
    with pytest.raises(IOError, match='bad.jpg'):
        LoadReIDImage(skip_undecodable=False)(dict(img_path=str(bad)))


def test_pad_random_crop_moves_mask_with_image():
    np.random.seed(0)
    img = np.arange(8 * 4 * 3, dtype=np.uint8).reshape(8, 4, 3)
    mask = np.arange(32, dtype=np.uint8).reshape(8, 4)
    out = PadRandomCrop(padding=2)(dict(img=img.copy(), gt_seg_map=mask.copy()))
    assert out['img'].shape == img.shape
    # the same offset on both: every kept mask value sits where its pixel sits
    m, im = out['gt_seg_map'], out['img']
    inside = np.argwhere((im.sum(-1) > 0) | (m > 0))
    for y, x in inside:
        v = int(m[y, x])
        if v:
            np.testing.assert_array_equal(im[y, x], img[v // 4, v % 4])


def test_random_erasing_fills_a_box_with_mean():
    np.random.seed(1)
    img = np.full((64, 32, 3), 7, np.uint8)
    out = RandomErasing(prob=1.0, fill=(10, 20, 30))(dict(img=img.copy()))['img']
    changed = np.argwhere((out != 7).any(-1))
    assert len(changed) > 0
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0)
    assert (out[y0:y1 + 1, x0:x1 + 1] == [10, 20, 30]).all()  # one solid rectangle
    area = (y1 - y0 + 1) * (x1 - x0 + 1) / (64 * 32)
    assert 0.02 - 0.01 <= area <= 0.4 + 0.05
    assert (RandomErasing(prob=0.0)(dict(img=img.copy()))['img'] == 7).all()


def test_pack_inputs_and_mmcv_transforms_in_scope():
    resize = TRANSFORMS.build(dict(type='Resize', scale=(4, 8), keep_ratio=False))
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0, direction='horizontal'))
    img = np.zeros((16, 8, 3), np.uint8)
    img[:, :4] = 255
    mask = np.zeros((16, 8), np.uint8)
    mask[:, :4] = 3
    r = flip(resize(dict(img=img, gt_seg_map=mask, img_shape=(16, 8), pid=5, camid=1,
                         label=2, split='train', img_path='x')))
    assert r['img'].shape == (8, 4, 3) and (r['img'][:, 2:] == 255).all()
    assert (r['gt_seg_map'][:, 2:] == 3).all() and (r['gt_seg_map'][:, :2] == 0).all()
    packed = PackReIDInputs()(r)
    assert packed['inputs'].shape == (3, 8, 4) and packed['inputs'].dtype == torch.uint8
    s = packed['data_samples']
    assert s.pid == 5 and s.camid == 1 and s.gt_label.tolist() == [2]
    assert s.part_mask.shape == (8, 4)


def _pids_of(ds):
    return [ds.get_pid(i) for i in range(len(ds))]


def test_identity_sampler_pk_batches():
    pids = [p for p in range(10) for _ in range(3 + p % 4)]  # 3..6 images per id
    ds = ReIDDataset(data_list=_samples(pids), split='train')
    sampler = IdentitySampler(ds, batch_size=8, num_instances=2, seed=3)
    idx = list(sampler)
    assert len(idx) == len(sampler) and len(idx) % 8 == 0
    labels = _pids_of(ds)
    for b in range(0, len(idx), 8):
        c = Counter(labels[i] for i in idx[b:b + 8])
        assert len(c) == 4 and set(c.values()) == {2}
    sampler.set_epoch(1)
    assert list(sampler) != idx  # a new plan each epoch
    sampler.set_epoch(0)
    assert list(sampler) == idx  # and a deterministic one


def test_identity_sampler_distributed_ranks_split_batches(monkeypatch):
    pids = [p for p in range(12) for _ in range(4)]
    ds = ReIDDataset(data_list=_samples(pids), split='train')
    import asym_plugins.data.samplers.identity_sampler as mod
    per_rank = []
    for rank in range(2):
        monkeypatch.setattr(mod, 'get_dist_info', lambda r=rank: (r, 2))
        per_rank.append(list(IdentitySampler(ds, batch_size=8, num_instances=4, seed=5)))
    monkeypatch.setattr(mod, 'get_dist_info', lambda: (0, 1))
    full = list(IdentitySampler(ds, batch_size=8, num_instances=4, seed=5))
    assert len(per_rank[0]) == len(per_rank[1])
    # rank r gets the batches r, r+2, ... of the same global plan
    assert per_rank[0] == [i for b in range(0, len(per_rank[0]) * 2, 16) for i in full[b:b + 8]]


def test_identity_sampler_errors():
    ds = ReIDDataset(data_list=_samples([1, 1, 2, 2]), split='train')
    with pytest.raises(ValueError, match='multiple of'):
        IdentitySampler(ds, batch_size=6, num_instances=4)
    with pytest.raises(ValueError, match='identities'):
        IdentitySampler(ds, batch_size=16, num_instances=4)
