# BoT baseline on Market-1501 (256x128, 16 ids x 4 images, Adam 3.5e-4, 120 epochs).
#   python tools/train.py configs/baseline/market1501.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=/path/to/resnet50_imagenet.pth
# BoT reports R1 94.1 / mAP 85.7 on Market-1501 with this recipe.
_base_ = [
    '../_base_/datasets/market1501.py',
    '../_base_/models/bot_resnet50.py',
    '../_base_/schedules/bot_adam.py',
    '../_base_/default_runtime.py',
]
