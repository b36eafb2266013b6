# Ablation row "+ shared decoder": the modality-shared decoder in the matching path only.
_base_ = ['../synthetic_text.py']
model = dict(shared_decoder=True,
             losses=dict(self_recon=None, cross_recon=None, bisim=None))
