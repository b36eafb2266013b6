# Runtime shared by every config: scope, hooks, logging, checkpoints, environment.
default_scope = 'asym'
custom_imports = dict(imports=['asym_plugins'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic_local: checkpoints are written to a temp file and renamed (no half-written file
    # after a kill); the last two are kept so that --resume always has one.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),  # tools/*.py switch to gloo on machines without CUDA
)

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
# Checkpoints as plain data, so that --resume works with torch.load(weights_only=True).
custom_hooks = [dict(type='PortableCheckpointHook')]
