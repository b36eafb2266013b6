# Ablation row "+ self + bisim" (in the slides' table): self-instance reconstruction + bisim.
_base_ = ['../synthetic_text.py']
model = dict(shared_decoder=True, losses=dict(cross_recon=None))
