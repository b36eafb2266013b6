"""SAP teachers: exact masks, rules, masks on disk, keypoints, parser files, noise; label-set
adapters; LoadTeacherPartMask in a real pipeline."""
import json
import struct

import numpy as np
import pytest
import torch
from conftest import require
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope
from PIL import Image

import asym_plugins  # noqa: F401  (registers transforms)
from asym_plugins.registry import TEACHERS
from asym_plugins.structures import ReIDDataSample
from third_party.human_parsing import LABEL_SETS, label_set_lut


def samples_with_masks(masks):
    out = []
    for i, m in enumerate(masks):
        s = ReIDDataSample(metainfo=dict(img_path=f'x/{i}.png'))
        s.part_mask = torch.as_tensor(m).long()
        out.append(s)
    return out


def person_image(h=64, w=32):
    img = np.full((h, w, 3), 128, np.uint8)   # grey background
    img[10:54, 10:22] = (200, 30, 30)         # the "person"
    return img


# ------------------------------------------------------------------ label sets
def test_label_set_adapters():
    assert label_set_lut('pascal_person_part') == (0, 1, 2, 2, 2, 3, 4)
    assert label_set_lut('pascal') == label_set_lut('pascal_person_part')
    lip, atr = label_set_lut('lip'), label_set_lut('atr')
    assert len(lip) == 20 and len(atr) == 18 and len(LABEL_SETS['lip']) == 20
    assert lip[13] == 1 and lip[9] == 3 and lip[18] == lip[19] == 4     # face, pants, shoes
    assert atr[16] == 5 and atr[11] == 1 and atr[6] == 3                 # bag, face, pants
    assert label_set_lut({0: 0, 3: 2}) == (0, 0, 0, 2)
    with pytest.raises(ValueError, match='Unknown parser label set'):
        label_set_lut('cityscapes')


# ------------------------------------------------------------------ batch teachers
def test_sample_mask_teacher_returns_the_exact_masks():
    masks = [np.random.randint(0, 7, (8, 4)) for _ in range(3)]
    teacher = TEACHERS.build(dict(type='SampleMaskTeacher'))
    out = teacher.batch_masks(torch.zeros(3, 3, 8, 4, dtype=torch.uint8),
                              samples_with_masks(masks))
    assert torch.equal(out, torch.as_tensor(np.stack(masks)).long())
    with pytest.raises(ValueError, match='no part_mask'):
        teacher.batch_masks(torch.zeros(1, 3, 8, 4), [ReIDDataSample()])


def test_rule_teacher_bands_inside_the_foreground():
    teacher = TEACHERS.build(dict(type='RuleTeacher'))
    mask = teacher.mask(person_image())
    # Foreground rows 10..53 (span 44); bands .16 / .5 / .9 of it.
    assert mask[:10].max() == 0 and mask[54:].max() == 0 and mask[:, :9].max() == 0
    col = mask[:, 16]
    assert set(col[10:18]) == {1} and set(col[18:32]) == {2}
    assert set(col[32:50]) == {3} and set(col[50:54]) == {4}
    no_fg = TEACHERS.build(dict(type='RuleTeacher', foreground=False)).mask(person_image())
    assert no_fg[0, 0] == 1 and no_fg[63, 0] == 4
    batch = teacher.batch_masks(torch.from_numpy(person_image()).permute(2, 0, 1)[None], [None])
    assert torch.equal(batch[0], torch.from_numpy(mask).long())


def test_noisy_teacher_is_seeded_and_corrupts():
    base = np.zeros((64, 32), np.int64)
    base[10:20], base[20:40], base[40:60] = 1, 2, 3
    samples = samples_with_masks([base] * 8)
    imgs = torch.zeros(8, 3, 64, 32, dtype=torch.uint8)
    cfg = dict(type='NoisyMaskTeacher', teacher=dict(type='SampleMaskTeacher'), seed=3)
    a = TEACHERS.build(cfg).batch_masks(imgs, samples)
    b = TEACHERS.build(cfg).batch_masks(imgs, samples)
    assert torch.equal(a, b)
    changed = (a != torch.from_numpy(base)).float().mean()
    assert 0.01 < changed < 0.6 and a.min() >= 0 and a.max() <= 6


# ------------------------------------------------------------------ source teachers
def test_precomputed_masks_png_npy_and_path_mapping(tmp_path):
    pascal = np.zeros((16, 8), np.uint8)
    pascal[:4], pascal[4:8], pascal[8:12], pascal[12:] = 1, 2, 5, 6  # head torso thighs shins
    (tmp_path / 'masks' / 'bounding_box_train').mkdir(parents=True)
    png = Image.fromarray(pascal, mode='P')
    png.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128,
                    128])
    png.save(tmp_path / 'masks' / 'bounding_box_train' / '0001_c1_f01.png')
    teacher = TEACHERS.build(dict(type='PrecomputedMaskTeacher', mask_root=str(tmp_path / 'masks'),
                                  label_set='pascal_person_part'))
    info = dict(img_path='/data/Occluded_Duke/bounding_box_train/0001_c1_f01.jpg')
    assert teacher.mask_path(info['img_path']).endswith('masks/bounding_box_train/0001_c1_f01.png')
    out = teacher.source_mask(info)
    assert out[0, 0] == 1 and out[5, 0] == 2 and out[9, 0] == 3 and out[13, 0] == 4
    # .npy with the image tree mirrored under img_root, our own ids.
    (tmp_path / 'm2' / 'a' / 'b').mkdir(parents=True)
    np.save(tmp_path / 'm2' / 'a' / 'b' / 'img.npy', np.full((4, 4), 6, np.int64))
    t2 = TEACHERS.build(dict(type='PrecomputedMaskTeacher', mask_root=str(tmp_path / 'm2'),
                             suffix='.npy', img_root='/data/root'))
    assert (t2.source_mask(dict(img_path='/data/root/a/b/img.jpg')) == 6).all()
    with pytest.raises(FileNotFoundError, match='no mask for'):
        t2.source_mask(dict(img_path='/data/root/a/b/other.jpg'))
    t3 = TEACHERS.build(dict(type='PrecomputedMaskTeacher', mask_root=str(tmp_path / 'm2'),
                             suffix='.npy', img_root='/data/root', missing='background'))
    assert t3.source_mask(dict(img_path='/data/root/zz.jpg', ori_shape=(5, 3))).shape == (5, 3)
    assert t3.num_missing == 1
    with pytest.raises(FileNotFoundError, match='RuleTeacher'):
        TEACHERS.build(dict(type='PrecomputedMaskTeacher', mask_root=str(tmp_path / 'none')))


SKELETON = [(16, 8), (15, 7), (17, 7), (14, 8), (18, 8), (10, 16), (22, 16), (9, 26), (23, 26),
            (9, 34), (23, 34), (12, 34), (20, 34), (12, 46), (20, 46), (12, 58), (20, 58)]


@pytest.mark.parametrize('fmt', ['dict', 'coco'])
def test_keypoint_teacher_renders_regions(tmp_path, fmt):
    kpts = [[x, y, 0.9] for x, y in SKELETON]
    if fmt == 'dict':
        data = {'0001_c1.jpg': kpts}
    else:
        data = dict(images=[dict(id=7, file_name='0001_c1.jpg')],
                    annotations=[dict(image_id=7, keypoints=sum(kpts, []))])
    path = tmp_path / 'kpts.json'
    path.write_text(json.dumps(data))
    teacher = TEACHERS.build(dict(type='KeypointTeacher', keypoint_file=str(path)))
    mask = teacher.source_mask(dict(img_path='/x/0001_c1.jpg', ori_shape=(64, 32)))
    assert mask.shape == (64, 32)
    assert mask[8, 16] == 1 and mask[24, 16] == 2 and mask[50, 12] == 3
    assert mask[58, 12] == 4 and mask[0, 0] == 0 and mask[63, 31] == 0
    with pytest.raises(KeyError, match='no keypoints'):
        teacher.source_mask(dict(img_path='/x/other.jpg', ori_shape=(64, 32)))


# ------------------------------------------------------------------ parser model files
# 1x1 conv "parser" over raw pixels (mean 0, std 1): class 0 (background) = blue,
# 1 (head) = red, 2 (torso) = green, others never win.
PARSER_W = np.zeros((7, 3, 1, 1), np.float32)
PARSER_W[0, 2], PARSER_W[1, 0], PARSER_W[2, 1] = 1, 1, 1
PARSER_W[3:] = -1


def _parser_image():
    img = np.zeros((8, 4, 3), np.uint8)
    img[:, :, 2] = 100
    img[:3, :, 0] = 255
    img[3:5, :, 1] = 255
    return img


def _check_parser(teacher):
    img = _parser_image()
    out = teacher.batch_masks(torch.from_numpy(img).permute(2, 0, 1)[None], [None])[0]
    assert out[:3].eq(1).all() and out[3:5].eq(2).all() and out[5:].eq(0).all()
    assert (teacher.source_mask(dict(img=img)) == out.numpy()).all()


def test_parser_teacher_torchscript(tmp_path):
    class Parser(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 7, 1, bias=False)
            self.conv.weight.data = torch.from_numpy(PARSER_W)

        def forward(self, x):
            return [self.conv(x)]   # SCHP-style list output: the teacher unwraps it

    torch.jit.script(Parser()).save(str(tmp_path / 'parser.pt'))
    _check_parser(TEACHERS.build(dict(type='ParserModelTeacher',
                                      model_file=str(tmp_path / 'parser.pt'),
                                      label_set='pascal_person_part', mean=(0, 0, 0),
                                      std=(1, 1, 1))))


def _pb_varint(n):
    out = b''
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _pb(field, value):
    """One protobuf field: int -> varint, bytes/str -> length-delimited."""
    if isinstance(value, int):
        return _pb_varint(field << 3) + _pb_varint(value)
    value = value.encode() if isinstance(value, str) else value
    return _pb_varint(field << 3 | 2) + _pb_varint(len(value)) + value


def _onnx_conv_model():
    """A 1x1-conv ONNX model written from the ONNX protobuf schema (no onnx package needed)."""
    def value_info(name, dims):
        dim = b''.join(_pb(1, _pb(2, d) if isinstance(d, str) else _pb(1, d)) for d in dims)
        return _pb(1, name) + _pb(2, _pb(1, _pb(1, 1) + _pb(2, dim)))

    weight = b''.join(_pb(1, d) for d in PARSER_W.shape) + _pb(2, 1) + _pb(8, 'W') + \
        _pb(9, struct.pack('<%df' % PARSER_W.size, *PARSER_W.flatten()))
    node = _pb(1, 'x') + _pb(1, 'W') + _pb(2, 'y') + _pb(3, 'conv') + _pb(4, 'Conv')
    graph = _pb(1, node) + _pb(2, 'parser') + _pb(5, weight) + \
        _pb(11, value_info('x', ['n', 3, 'h', 'w'])) + _pb(12, value_info('y', ['n', 7, 'h', 'w']))
    return _pb(1, 7) + _pb(7, graph) + _pb(8, _pb(1, '') + _pb(2, 13))


def test_parser_teacher_onnx(tmp_path):
    require('onnxruntime')
    (tmp_path / 'parser.onnx').write_bytes(_onnx_conv_model())
    _check_parser(TEACHERS.build(dict(type='ParserModelTeacher',
                                      model_file=str(tmp_path / 'parser.onnx'),
                                      label_set='pascal', mean=(0, 0, 0), std=(1, 1, 1),
                                      input_size=(16, 8))))


# ------------------------------------------------------------------ pipeline alignment
def test_load_teacher_part_mask_moves_with_the_image(tmp_path):
    img = np.zeros((64, 32, 3), np.uint8)
    img[:, :10] = (255, 0, 0)      # red left stripe
    mask = np.zeros((64, 32), np.uint8)
    mask[:, :10] = 1
    (tmp_path / 'masks' / 'train').mkdir(parents=True)
    Image.fromarray(mask).save(tmp_path / 'masks' / 'train' / 'a.png')
    with DefaultScope.overwrite_default_scope('asym'):
        pipeline = Compose([
            dict(type='LoadReIDImage'),
            dict(type='LoadTeacherPartMask',
                 teacher=dict(type='PrecomputedMaskTeacher', mask_root=str(tmp_path / 'masks'))),
            dict(type='Resize', scale=(32, 64), keep_ratio=False),
            dict(type='RandomFlip', prob=1.0, direction='horizontal'),
            dict(type='PadRandomCrop', padding=6),
            dict(type='PackReIDInputs'),
        ])
    for _ in range(5):
        out = pipeline(dict(img=img.copy(), img_path='/d/train/a.jpg'))
        red = out['inputs'][0] == 255
        assert torch.equal(red, out['data_samples'].part_mask == 1)
        assert red.any()
