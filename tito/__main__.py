"""Entry point for `tito` and `python -m tito`. Imports nothing heavy so `tito --version` is instant."""

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:  # answer before building the whole command line
        from tito import __version__

        print(f"tito {__version__}")
        return
    from tito.milestones.tuning import choose_openblas_kernels

    choose_openblas_kernels()  # for `tito milestone run`: must happen before anything imports NumPy
    from tito.cli import app

    app(prog_name="tito")


if __name__ == "__main__":
    main()
