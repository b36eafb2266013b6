"""SAP in torchreid: teacher part targets moved with the image by torchreid's transforms."""
import numpy as np
import pytest
import torch
from conftest import require, torchreid_distance, torchreid_evaluate_rank  # noqa: E402
from PIL import Image

require('torchreid')

from asym_plugins.integrations.torchreid import compat, register_all  # noqa: E402

H, W = 64, 32


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _manager(tmp_path, name, preset, num_instances=4, batch=8):
    from asym_plugins.integrations.torchreid.datasets import synthetic_dataset_class
    from asym_plugins.integrations.torchreid.registration import register_dataset
    register_all()
    register_dataset(name, synthetic_dataset_class(preset, name=name, seed=0, num_train_ids=4,
                                                   num_test_ids=3, img_size=(H, W)))
    return compat.torchreid_module('data').ImageDataManager(
        root=str(tmp_path), sources=name, height=H, width=W, batch_size_train=batch,
        batch_size_test=64, workers=0, num_instances=num_instances,
        train_sampler='RandomIdentitySampler', transforms=['random_flip', 'random_crop'],
        use_gpu=False)


def test_joint_transform_keeps_mask_on_the_image():
    from torchvision.transforms import Compose, RandomHorizontalFlip, Resize, ToTensor

    from asym_plugins.integrations.torchreid.datasets import JointTransform
    transforms = compat.torchreid_module('data.transforms')
    labels = np.zeros((32, 16), np.uint8)
    labels[:8, :8], labels[8:20, 4:], labels[20:, :10] = 1, 2, 3
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    img, mask = Image.fromarray(palette[labels]), Image.fromarray(labels)
    t = Compose([Resize((64, 32), interpolation=Image.NEAREST), RandomHorizontalFlip(p=1.0),
                 transforms.Random2DTranslation(64, 32, p=1.0,
                                                interpolation=Image.NEAREST), ToTensor()])
    for seed in range(5):
        torch.manual_seed(seed)
        out_img, out_mask = JointTransform(t)(img, mask)
        colour_label = (out_img.argmax(0) + 1) * (out_img.sum(0) > 0)
        assert out_mask.shape == (64, 32)
        assert (colour_label == out_mask).float().mean() > 0.99


def test_sap_engine_distils_teacher_targets(tmp_path):
    from asym_plugins.integrations.torchreid.engines import SAPEngine
    dm = _manager(tmp_path, 'synthetic_occluded', 'occluded')
    from asym_plugins.integrations.torchreid.models import build_model
    model = build_model('sap_vit_cpu', dm.num_train_pids, loss='triplet', img_size=(H, W))
    assert model.asym_model.backbone.img_size == (H, W)
    optimizer = compat.torchreid_module('optim').build_optimizer(model, optim='adam', lr=1e-3)
    engine = SAPEngine(dm, model, optimizer, use_gpu=False)
    assert dm.train_loader.dataset.return_part_mask
    data = next(iter(dm.train_loader))
    assert data['part_mask'].shape == (8, H, W)
    losses = engine.forward_backward(data)
    for key in ('loss_id', 'loss_triplet', 'loss_part_id', 'loss_patch', 'loss_proxy'):
        assert key in losses and np.isfinite(losses[key])
    rank1, mAP = engine.test(ranks=[1, 5]), engine.last_results['mAP']
    # the same features through torchreid's own distance and evaluator
    engine.set_model_mode('eval')
    qf, q_pids, q_cams = engine.extract_split(dm.test_loader['synthetic_occluded']['query'])
    gf, g_pids, g_cams = engine.extract_split(dm.test_loader['synthetic_occluded']['gallery'])
    cmc, ref_map = torchreid_evaluate_rank(torchreid_distance(qf, gf), q_pids, g_pids, q_cams,
                                           g_cams, max_rank=5)
    assert rank1 == pytest.approx(float(cmc[0]), abs=1e-6)
    assert mAP == pytest.approx(float(ref_map), abs=1e-6)
    # a batch teacher labels the de-normalised images instead
    rule = SAPEngine(dm, model, optimizer, teacher=dict(type='RuleTeacher'), use_gpu=False)
    assert not dm.train_loader.dataset.return_part_mask
    assert 'loss_patch' in rule.forward_backward(next(iter(dm.train_loader)))
