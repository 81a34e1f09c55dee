"""`python -m bookflow_devstack` is the `bookflow` command."""
import sys

from bookflow_devstack.cli import main

sys.exit(main())
