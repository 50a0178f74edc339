"""LiVeAction: a lightweight, versatile and asymmetric neural codec.

Paper: Jacobellis & Yadwadkar, "LiVeAction: Lightweight, Versatile, and Asymmetric
Codec Design for Real-time Operation" (reference code: UT-SysML/liveaction, the
``livecodec`` package).

Modules (import them directly; importing this package does not import torch):

``wpt``
    Full wavelet packet transform (CDF 9/7 = bior4.4, periodic boundary, lifting
    scheme) for 1-D, 2-D and 3-D signals, its exact inverse, and the power-law
    companding that follows it.
``model``
    The network: ``LiVeActionConfig``, ``MonarchLinear`` (factorised 1x1 conv), the
    lightweight encoder, the Laplace-CDF int8 quantiser, the heavier decoder
    (ReLU linear attention + MBConv), ``LiVeAction``, ``liveaction_loss`` and
    ``complexity``.
``codec`` / ``signal_codec``
    ``liveaction-rgb`` (images), and the same pipeline on 1-D and 3-D signals:
    ``liveaction-audio``, ``liveaction-audio4``, ``liveaction-hsi``,
    ``liveaction-volume`` (their configurations and scaling: ``signals``; their
    training and held-out data: ``signal_data``).
``entropy``, ``weights``, ``export``, ``train``, ``warmstart``
    Integer latent context model, shipped weights, checkpoint export, training.
"""
