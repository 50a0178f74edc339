"""ISCS: parameter-guided channel importance, ordering and grouping for trained
learned-image-compression models: ``layers`` finds the latent-facing layers, ``stats``
scores and groups channels from the weights alone, ``permute`` reorders a model's
channels exactly; ``lvc.eval.channel_importance`` measures what zeroing a channel
costs on images, the check of the premise.

The slice codecs built on it: ``slices`` (the channel-slice entropy model and its
layouts), ``coding`` (the bitstream, slice-parallel decoding), ``weights`` (host +
slice networks, order stored and re-checked), ``train`` (fine-tuning the slice
networks on a frozen host) and ``codec`` (``mbt2018-mean-tiny-iscs`` / ``-slices``)."""
