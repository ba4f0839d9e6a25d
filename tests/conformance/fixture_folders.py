"""What the fixture scripts share: emptying a fixtures folder but for the
golden sidecars beside its datasets (`*.inspect.json`, `*.err`), which
`cargo test golden` checks."""
import os
import shutil


def clear(folder):
    os.makedirs(folder, exist_ok=True)
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif not entry.endswith((".inspect.json", ".err")):
            os.remove(path)
