"""`python -m goroscope` runs the command line."""

from goroscope.cli import main

if __name__ == "__main__":
    main()
