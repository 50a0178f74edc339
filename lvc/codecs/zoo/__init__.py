"""CompressAI's zoo (bmshj2018, mbt2018, cheng2020) as lvc image codecs.

``codec.py`` runs compressai's networks and codes their latents with ``lvc.entropy``;
``weights.py`` finds pretrained weights in torch hub's cache (never downloading) or,
with ``LVC_ZOO_RANDOM=1``, builds seeded random ones for tests. Nothing is imported
here, so the registry can name the modules without importing torch.
"""
