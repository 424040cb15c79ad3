"""`python -m newsletter ...`: the same as the `newsletter` command (how `newsletter run` starts its children)."""

from newsletter.cli.main import main

if __name__ == "__main__":
    main()
