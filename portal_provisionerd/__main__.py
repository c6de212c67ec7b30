"""`python -m portal_provisionerd start ...` (what `portal provisionerd start` runs)."""

from portal_provisionerd.cli import provisionerd

if __name__ == "__main__":
    provisionerd(prog_name="portal provisionerd")
