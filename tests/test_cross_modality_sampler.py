"""CrossModalityIdentitySampler: P x (K visible + K infrared) batches, ranks, errors."""
import os.path as osp
from collections import Counter
from unittest import mock

import pytest
from mmengine.config import Config
from torch.utils.data import DataLoader

from asym_plugins.data.samplers import CrossModalityIdentitySampler
from asym_plugins.registry import DATA_SAMPLERS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


class ListDataset:
    """Minimal dataset: data info dicts with label and modality."""

    def __init__(self, infos):
        self.infos = infos

    def __len__(self):
        return len(self.infos)

    def get_data_info(self, i):
        return dict(self.infos[i])

    def __getitem__(self, i):
        return i


def make_dataset(counts):
    """counts: {label: (num_visible, num_infrared)}."""
    infos = []
    for label, (nv, ni) in counts.items():
        infos += [dict(label=label, modality='visible')] * nv
        infos += [dict(label=label, modality='infrared')] * ni
    return ListDataset(infos)


COUNTS = {0: (9, 3), 1: (4, 4), 2: (2, 7), 3: (12, 5), 4: (5, 1), 5: (6, 6)}


def _batches(sampler):
    idx = list(sampler)
    assert len(idx) == len(sampler)
    return [idx[i:i + sampler.batch_size] for i in range(0, len(idx), sampler.batch_size)]


def _check_batch(ds, batch, p, k):
    infos = [ds.get_data_info(i) for i in batch]
    per_id = Counter((d['label'], d['modality']) for d in infos)
    labels = {d['label'] for d in infos}
    assert len(labels) == p
    assert all(per_id[(label, m)] == k for label in labels for m in ('visible', 'infrared'))
    # Each identity's K visible images come first, then its K infrared ones.
    for j in range(p):
        group = infos[j * 2 * k:(j + 1) * 2 * k]
        assert len({d['label'] for d in group}) == 1
        assert [d['modality'] for d in group] == ['visible'] * k + ['infrared'] * k


@pytest.mark.parametrize('k', [2, 4])
def test_batches_have_k_visible_and_k_infrared_per_identity(k):
    ds = make_dataset(COUNTS)
    p = 3
    sampler = CrossModalityIdentitySampler(ds, batch_size=2 * p * k, num_instances=k, seed=0)
    batches = _batches(sampler)
    expected = sum(max(nv, ni, k) // k for nv, ni in COUNTS.values()) // p
    assert len(batches) == sampler.num_batches == max(1, expected)
    for batch in batches:
        _check_batch(ds, batch, p, k)
    # With at least K images of a modality, a group has no repeats within one pass.
    ds_big = make_dataset({i: (8, 8) for i in range(6)})
    for batch in _batches(CrossModalityIdentitySampler(ds_big, batch_size=2 * p * k,
                                                       num_instances=k, seed=1)):
        assert len(set(batch)) == len(batch)


def test_plan_is_seeded_per_epoch_and_identical_across_ranks():
    ds = make_dataset(COUNTS)
    a = CrossModalityIdentitySampler(ds, batch_size=8, num_instances=2, seed=3)
    b = CrossModalityIdentitySampler(ds, batch_size=8, num_instances=2, seed=3)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    plans = []
    for rank in range(2):
        with mock.patch('asym_plugins.data.samplers.cross_modality_sampler.get_dist_info',
                        return_value=(rank, 2)):
            s = CrossModalityIdentitySampler(ds, batch_size=8, num_instances=2, seed=3)
        plans.append(_batches(s))
        assert len(s) == s.num_batches * 8
    with mock.patch('asym_plugins.data.samplers.cross_modality_sampler.get_dist_info',
                    return_value=(0, 2)):
        s2 = CrossModalityIdentitySampler(ds, batch_size=8, num_instances=2, seed=3)
    whole = s2._plan()
    assert plans[0] == whole[0::2] and plans[1] == whole[1::2]  # one shared plan, interleaved
    for plan in plans:
        for batch in plan:
            _check_batch(ds, batch, 2, 2)


def test_errors_are_clear():
    ds = make_dataset({0: (4, 4), 1: (3, 0), 2: (4, 4), 3: (0, 2)})
    with pytest.raises(ValueError, match=r'2 identities lack one modality \(pid 1: 3 visible '
                                         r'/ 0 infrared, pid 3: 0 visible / 2 infrared\)'):
        CrossModalityIdentitySampler(ds, batch_size=8, num_instances=2, seed=0)
    s = CrossModalityIdentitySampler(ds, batch_size=8, num_instances=2, seed=0,
                                     skip_incomplete=True)
    assert s.pids == [0, 2]
    with pytest.raises(ValueError, match='multiple of 2 x num_instances=8'):
        CrossModalityIdentitySampler(make_dataset(COUNTS), batch_size=12, num_instances=4)
    with pytest.raises(ValueError, match='6 identities have both modalities but a batch needs '
                                         'P=7'):
        CrossModalityIdentitySampler(make_dataset(COUNTS), batch_size=56, num_instances=4)
    with pytest.raises(KeyError, match="no 'modality' field"):
        CrossModalityIdentitySampler(ListDataset([dict(label=0)]), batch_size=2,
                                     num_instances=1)
    bad = ListDataset([dict(label=0, modality='thermal')])
    with pytest.raises(ValueError, match="modality \\['thermal'\\]"):
        CrossModalityIdentitySampler(bad, batch_size=2, num_instances=1)


def test_synthetic_infrared_preset_without_rendering():
    assert DATA_SAMPLERS.get('CrossModalityIdentitySampler') is CrossModalityIdentitySampler
    from mmengine.dataset import BaseDataset

    from asym_plugins.data.synthetic import SyntheticReIDDataset
    train = SyntheticReIDDataset(preset='infrared', split='train', num_train_ids=6,
                                 num_test_ids=2, img_size=(32, 16))
    with mock.patch.object(SyntheticReIDDataset, 'get_data_info',
                           side_effect=AssertionError('rendered')):
        sampler = DATA_SAMPLERS.build(dict(type='CrossModalityIdentitySampler', dataset=train,
                                           batch_size=8, num_instances=2, seed=0))
        batches = _batches(sampler)
    raw = ListDataset([BaseDataset.get_data_info(train, i) for i in range(len(train))])
    for batch in batches:
        _check_batch(raw, batch, 2, 2)
    # Through a DataLoader with the config's batch size, each batch is one P x (K + K) block.
    loader = DataLoader(raw, batch_size=8, sampler=sampler)
    assert [b.tolist() for b in loader] == batches


def test_configs_batch_shapes():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/sim/sysu_mm01_bot.py'))
    s = cfg.train_dataloader.sampler
    assert s.batch_size // (2 * s.num_instances) == 16 and s.num_instances == 4
