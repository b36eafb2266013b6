"""SAP configs: the paper recipe fails with a what-goes-where message without its files and
trains once they are there (tiny stand-ins); the synthetic twin trains end to end."""
import os.path as osp

import pytest
import torch
from conftest import torchreid_distance, torchreid_evaluate_rank
from mmengine.config import Config
from mmengine.runner import Runner

import asym_plugins  # noqa: F401
from asym_plugins.data.synthetic.writer import write_layout

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = dict(embed_dims=32, depth=2, num_heads=2, mlp_ratio=2.0)


def _shrink_runtime(cfg, work_dir, batch=8):
    cfg.work_dir = str(work_dir)
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    cfg.default_hooks.logger.interval = 1
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_dataloader.batch_size = batch
    cfg.train_dataloader.sampler.batch_size = batch
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.val_evaluator.save_features = str(work_dir / 'val_features.npz')


def _assert_val_metrics_are_torchreids(runner, work_dir):
    """The logged validation R1 / mAP equal torchreid's own evaluator on the saved features
    (L2-normalised, Euclidean as the evaluator's config says)."""
    import numpy as np
    f = np.load(str(work_dir / 'val_features.npz'))
    norm = torch.nn.functional.normalize
    assert runner.cfg.val_evaluator.normalize_feature
    qf, gf = norm(torch.from_numpy(f['qf']), dim=1), norm(torch.from_numpy(f['gf']), dim=1)
    cmc, mAP = torchreid_evaluate_rank(torchreid_distance(qf, gf), f['q_pids'], f['g_pids'],
                                       f['q_camids'], f['g_camids'], max_rank=1)
    assert runner.message_hub.get_scalar('val/mAP').current() == pytest.approx(100 * mAP,
                                                                               abs=1e-4)
    assert runner.message_hub.get_scalar('val/R1').current() == pytest.approx(100 * cmc[0],
                                                                              abs=1e-4)


def _tiny_timm_checkpoint(path, dims=32, depth=2):
    g = torch.Generator().manual_seed(0)
    sd = {'cls_token': torch.randn(1, 1, dims, generator=g),
          'pos_embed': torch.randn(1, 197, dims, generator=g) * 0.02,
          'patch_embed.proj.weight': torch.randn(dims, 3, 16, 16, generator=g) * 0.02,
          'patch_embed.proj.bias': torch.zeros(dims), 'norm.weight': torch.ones(dims),
          'norm.bias': torch.full((dims, ), 0.125), 'head.weight': torch.zeros(1000, dims),
          'head.bias': torch.zeros(1000)}
    for i in range(depth):
        b = f'blocks.{i}.'
        for name, shape in (('norm1', (dims, )), ('norm2', (dims, ))):
            sd[b + name + '.weight'], sd[b + name + '.bias'] = torch.ones(shape), torch.zeros(shape)
        for name, (o, n) in (('attn.qkv', (3 * dims, dims)), ('attn.proj', (dims, dims)),
                             ('mlp.fc1', (2 * dims, dims)), ('mlp.fc2', (dims, 2 * dims))):
            sd[b + name + '.weight'] = torch.randn(o, n, generator=g) * 0.02
            sd[b + name + '.bias'] = torch.zeros(o)
    torch.save(sd, path)


@pytest.mark.slow
def test_occluded_duke_recipe_says_what_is_missing_then_trains(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sap', 'occluded_duke.py'))
    assert cfg.model.backbone.arch == 'base' and cfg.model.backbone.stride == 12
    assert cfg.optim_wrapper.optimizer.lr == 0.008 and cfg.model.num_classes is None
    cfg.model.num_classes = 702   # what the tools fill in from the training split
    _shrink_runtime(cfg, tmp_path / 'work')
    with pytest.raises(FileNotFoundError) as e:
        Runner.from_cfg(cfg.copy())
    msg = str(e.value)
    for what in ('data/occluded_duke/Occluded_Duke/bounding_box_train', 'ImageNet ViT-B/16',
                 'model.backbone.init_cfg.checkpoint', 'part_masks/bounding_box_train'):
        assert what in msg

    # Put stand-ins where the message says: synthetic Occluded-Duke (with part masks, in our
    # label ids) and a tiny timm-layout "ImageNet" checkpoint for a tiny ViT.
    write_layout('occluded_duke', str(tmp_path / 'data' / 'occluded_duke'), num_train_ids=4,
                 num_test_ids=3)
    (tmp_path / 'checkpoints').mkdir()
    _tiny_timm_checkpoint(tmp_path / 'checkpoints' / 'jx_vit_base_p16_224-80ecf9dd.pth')
    cfg.model.backbone.arch = TINY
    cfg.model.patch_layers = (-1, )
    cfg.model.num_classes = 4
    cfg.train_dataloader.dataset.pipeline[1].teacher.label_set = 'asym'
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    # The checkpoint went through the key conversion and the position-embedding resize.
    assert model.backbone.pos_embed.shape == (1, 211, 32)
    assert (model.backbone.ln_final.bias.detach() - 0.125).abs().max() < 0.05  # 1 epoch moved it
    assert runner.message_hub.get_scalar('train/loss_patch').current() > 0
    _assert_val_metrics_are_torchreids(runner, tmp_path / 'work')


@pytest.mark.slow
def test_synthetic_twin_trains_end_to_end(tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'sap', 'synthetic_occluded.py'))
    teacher_hooks = [h for h in cfg.custom_hooks if h.type == 'TeacherDistillationHook']
    assert teacher_hooks[0].teacher.type == 'SampleMaskTeacher'
    _shrink_runtime(cfg, tmp_path / 'work', batch=16)
    cfg.train_dataloader.dataset.num_train_ids = 8
    for side in ('query', 'gallery'):
        cfg.val_dataloader.dataset[side].num_train_ids = 8
        cfg.val_dataloader.dataset[side].num_test_ids = 4
    cfg.test_dataloader = cfg.val_dataloader
    cfg.model.num_classes = 8
    cfg.model.backbone.arch = TINY
    cfg.model.patch_layers = (-1, )
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.message_hub.get_scalar('train/loss_patch').current() > 0
    assert runner.message_hub.get_scalar('train/loss_proxy').current() > 0
    _assert_val_metrics_are_torchreids(runner, tmp_path / 'work')
