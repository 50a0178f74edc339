"""ISCS: parameter-guided channel importance, ordering and grouping for trained
learned-image-compression models: ``layers`` finds the latent-facing layers, ``stats``
scores and groups channels from the weights alone, ``permute`` reorders a model's
channels exactly; ``lvc.eval.channel_importance`` measures what zeroing a channel
costs on images, the check of the premise."""
