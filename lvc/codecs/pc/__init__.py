"""Probabilistic-circuit lossless codec (Liu, Mandt & Van den Broeck, ICLR 2022):
a Hidden Chow-Liu Tree whose exact conditionals drive the ANS coder."""
