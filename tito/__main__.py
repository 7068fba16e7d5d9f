"""Entry point for `tito` and `python -m tito`. Imports nothing heavy so `tito --version` is instant."""

import sys


def main() -> None:
    from tito.cli import app

    app(prog_name="tito")


if __name__ == "__main__":
    sys.exit(main())
