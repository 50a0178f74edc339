"""``python -m lvc`` is the ``codec`` command."""

from .cli.main import main

if __name__ == "__main__":
    main()
