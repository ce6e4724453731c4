"""Allow `python -m rollctl`."""

from rollctl.cli import main

if __name__ == "__main__":
    main()
