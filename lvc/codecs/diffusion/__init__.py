"""dualdiff: dual-representation diffusion coding at ultra-low bitrates (explicit base
codec + implicit texture by reverse-channel coding); see ``codec.py``."""
