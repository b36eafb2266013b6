"""SAP diagnostics (docs/sap.md, "Investigation"): SSD drop probability per mask region, checked
against values worked out by hand, and tools/sap_ssd_check.py on a checkpoint."""
import math
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
import torch

from asym_plugins.methods.sap.diagnostics import patch_regions, ssd_region_rates
from asym_plugins.methods.sap.part_targets import ssd_drop_rates

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_patch_regions_take_the_region_covering_most_pixels():
    # one 4x8 image, 4x4 patches: left patch 10 background + 6 occluder pixels, right patch
    # 9 person (labels 1..5) + 7 background
    left, right = torch.zeros(16, dtype=torch.long), torch.zeros(16, dtype=torch.long)
    left[:6] = 6
    right[:9] = torch.tensor([1, 2, 3, 4, 5, 1, 2, 3, 4])
    m = torch.cat([left.view(4, 4), right.view(4, 4)], dim=1)[None]
    assert patch_regions(m, 4, 4).tolist() == [[0, 1]]   # background, person


def test_drop_rates_formula_and_clipping():
    p = torch.tensor([[0.5, 0.3, 0.2]])
    torch.testing.assert_close(ssd_drop_rates(p, 0.25), torch.tensor([[0.375, 0.225, 0.15]]))
    torch.testing.assert_close(ssd_drop_rates(torch.tensor([[0.9, 0.1]]), 1.0),
                               torch.tensor([[1.0, 0.2]]))   # 0.9 * 2 = 1.8 clips at 1
    with pytest.raises(ValueError, match='drop_ratio'):
        ssd_drop_rates(p, 1.5)


class _Stub:
    """The parts of a SAPModel that ssd_region_rates reads: 2x2 patches of 4x4 pixels."""
    backbone = SimpleNamespace(patch_size=4, stride=4)
    ssd_cfg = dict(drop_ratio=0.25, normalize=True)

    def __init__(self, tokens):
        self.tokens = tokens

    def eval(self):
        return self

    def data_preprocessor(self, batch, training):
        return dict(inputs=torch.zeros(len(batch['data_samples']), 3, 8, 8),
                    data_samples=batch['data_samples'])

    def _encode(self, x, attn_layers):
        return None, self.tokens, None, None, None


def test_region_rates_by_hand():
    """Patches 0-2 share one direction (background), patch 3 another (person): cosine row
    sums 3, 3, 3, 1, so p = softmax([3, 3, 3, 1] / t) and rate = min(1, 0.25 * 4 * p)."""
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    tokens = torch.stack([e1, e1 * 3, e1, e2])[None]            # (1, 4, 2)
    mask = torch.zeros(8, 8, dtype=torch.long)
    mask[4:, 4:] = 2                                              # patch 3: person
    samples = [_Sample(mask)]
    res = ssd_region_rates(_Stub(tokens), [dict(data_samples=samples)], temperatures=(None, 0.5))
    for label, t in (('t=L', 4.0), ('t=0.5', 0.5)):
        z = [math.exp(3 / t)] * 3 + [math.exp(1 / t)]
        p = [v / sum(z) for v in z]
        rate = [min(1.0, 0.25 * 4 * v) * 100 for v in p]
        assert res[label]['background'] == pytest.approx(rate[0], rel=1e-5)
        assert res[label]['person'] == pytest.approx(rate[3], rel=1e-5)
        assert math.isnan(res[label]['occluder'])
    assert res['patches'] == dict(background=3, person=1, occluder=0)
    with pytest.raises(ValueError, match='part_mask'):
        ssd_region_rates(_Stub(tokens), [dict(data_samples=[_Sample(None)])])


class _Sample(SimpleNamespace):
    def __init__(self, mask):
        super().__init__(part_mask=mask)

    def __contains__(self, key):
        return key == 'part_mask' and self.part_mask is not None


@pytest.mark.slow
def test_ssd_check_tool_runs_on_a_checkpoint(tmp_path, capsys):
    from mmengine.config import Config
    from mmengine.runner import Runner
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import sap_ssd_check
    cfg_path = osp.join(ROOT, 'tests/fixtures/tiny_sap.py')
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = str(tmp_path / 'build')
    model = Runner.from_cfg(cfg).model
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    res = sap_ssd_check.main([cfg_path, str(ckpt), '--temperatures', 'L', '2', '--max-batches',
                              '1', '--work-dir', str(tmp_path / 'w')])
    out = capsys.readouterr().out
    assert set(res) == {'t=L', 't=2', 'patches'} and '| t=2 |' in out
    assert sum(res['patches'].values()) > 0
    with pytest.raises(SystemExit) as e:
        sap_ssd_check.run_cli(sap_ssd_check.main, [cfg_path, str(ckpt), '--temperatures', '0'])
    assert e.value.code == 2


def test_trained_runner_names_a_wrong_model_or_missing_file(tmp_path):
    from asym_plugins.engine.cli import ConfigError, MissingInputError
    from asym_plugins.engine.launch import trained_runner
    ckpt = tmp_path / 'epoch_1.pth'
    ckpt.write_bytes(b'')
    mcma = osp.join(ROOT, 'configs/mcma/synthetic_text.py')
    with pytest.raises(ConfigError, match=r"model.type is 'MCMAModel'; this check needs a "
                                          r'SAPModel config'):
        trained_runner(mcma, str(ckpt), 'SAPModel', str(tmp_path / 'w'))
    with pytest.raises(MissingInputError, match='config .*nope.py.* does not exist'):
        trained_runner(str(tmp_path / 'nope.py'), str(ckpt), 'SAPModel', str(tmp_path / 'w'))
    with pytest.raises(MissingInputError, match='checkpoint .*missing.pth.* does not exist'):
        trained_runner(mcma, str(tmp_path / 'missing.pth'), 'MCMAModel', str(tmp_path / 'w'))
