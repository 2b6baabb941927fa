"""`python -m pg2cli` (and `torchrun -m pg2cli train ...` for multi-GPU)."""

from pg2cli.cli import main

if __name__ == "__main__":
    main()
