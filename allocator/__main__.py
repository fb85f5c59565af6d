"""`python -m allocator`: the same command group as the `allocator` script."""
from allocator.cli import main

if __name__ == "__main__":
    main()
