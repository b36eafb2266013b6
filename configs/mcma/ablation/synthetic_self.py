# Ablation row "+ self": shared decoder + self-instance text-prompted masked reconstruction.
_base_ = ['../synthetic_text.py']
model = dict(shared_decoder=True, losses=dict(cross_recon=None, bisim=None))
