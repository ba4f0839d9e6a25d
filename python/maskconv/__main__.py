"""``python -m maskconv ARGS``: runs the installed binary with ARGS."""

import os
import subprocess
import sys

from maskconv import find_bin


def main() -> int:
    binary = find_bin()
    if os.name == "posix":
        os.execv(binary, [binary, *sys.argv[1:]])
    return subprocess.call([binary, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
