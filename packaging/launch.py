"""Entry of the released provider (packaging/terraform-provider-dbaas runs it): checks the Python version, puts
the directory of this file, which holds the provider and its dependencies, first on the path and serves.

Kept to syntax any Python 3 parses, so that an older python3 gets a clear message or hands over to a newer one.
"""

import os
import sys

MINIMUM = (3, 11)
NEWER = ("python3.13", "python3.12", "python3.11")
# The launcher's flags; see the comment in terraform-provider-dbaas.
FLAGS = ["-I", "-S", "-B"]


def newer_python():
    """The first of NEWER on PATH that runs and is recent enough (a pyenv shim may be on PATH and not run)."""
    import shutil
    import subprocess

    check = "import sys; sys.exit(sys.version_info < " + repr(MINIMUM) + ")"
    for name in NEWER:
        path = shutil.which(name)
        if path is not None:
            found = subprocess.run(
                [path, "-I", "-S", "-c", check], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            if found.returncode == 0:
                return path
    return None


if sys.version_info < MINIMUM:
    python = newer_python()
    if python is None:
        sys.stderr.write(
            "terraform-provider-dbaas needs Python 3.11 or newer; "
            + sys.executable
            + " is "
            + sys.version.split()[0]
            + ". Install one or set DBAAS_PROVIDER_PYTHON to its path.\n"
        )
        sys.exit(1)
    os.execv(python, [python, *FLAGS, __file__, *sys.argv[1:]])

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)

from provider.main import main  # noqa: E402 - found through the path set just above

# This directory holds the schema answer made when the release was built: the launches that only read schemas
# import no provider.
sys.exit(main(release_lib=HERE))
