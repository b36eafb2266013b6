# Ablation row "baseline": ViT + MiniLM, linear projections, SDM + ID loss (no shared decoder,
# no reconstruction, no bisimulation). Same data, seed and budget as ../synthetic_text.py.
_base_ = ['../synthetic_text.py']
model = dict(shared_decoder=False,
             losses=dict(self_recon=None, cross_recon=None, bisim=None))
