"""ISCS: parameter-guided channel importance, ordering and grouping for trained
learned-image-compression models (``stats`` reads the weights, ``importance``
measures what zeroing a channel costs on images)."""
