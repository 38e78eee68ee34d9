"""`python -m fusegen`: the same CLI as the `fusegen` command."""

from fusegen.cli import run

if __name__ == "__main__":
    run()
