"""``python -m darkmodel``: the command line, as ``darkmodel``."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover - run by 'python -m darkmodel'
    main(prog_name="darkmodel")
