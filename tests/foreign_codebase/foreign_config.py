# A config of the foreign codebase, as its users write it; the SIM lines are the only addition.
default_scope = 'foreignreid'
custom_imports = dict(imports=['foreignreid', 'asym_plugins'], allow_failed_imports=False)
custom_hooks = [dict(type='asym.SIMRerankHook', dist_method='pairwise_distance',
                     lam=0.1, K=3, k_q=4, k_g=4, n_graph=6, alpha=0.5)]      # <- added

feature_file = 'PLACEHOLDER.npz'
model = dict(type='DescriptorNet', dim=16)
test_dataloader = dict(batch_size=16, num_workers=0,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       dataset=dict(type='FeatureFileDataset', npz=feature_file),
                       collate_fn=dict(type='pseudo_collate'))
test_evaluator = dict(type='ForeignRetrievalMetric')
test_cfg = dict(type='TestLoop')
env_cfg = dict(dist_cfg=dict(backend='gloo'))
