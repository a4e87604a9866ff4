"""Start-up cost of the command line against a bare ``python -c "import numpy"``.

Each command runs ``--repeat`` times in fresh interpreters, alternating, in this one run;
the median ratio is printed (target: ``darkmodel --help`` at most 3x the numpy import).
``scan --help`` is measured too: scanning loads no statistics or plotting.

    python benchmarks/bench_startup.py --repeat 15
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def _time(cmd) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    entry = shutil.which("darkmodel")
    commands = {
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "darkmodel --help": [entry, "--help"] if entry else [sys.executable, "-m", "darkmodel.cli", "--help"],
        "darkmodel scan --help": ([entry, "scan", "--help"] if entry
                                  else [sys.executable, "-m", "darkmodel.cli", "scan", "--help"]),
    }
    times = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, cmd in commands.items():
            times[name].append(_time(cmd))
    base = statistics.median(times["python -c 'import numpy'"])
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:28s} median {med * 1000:7.1f} ms   ratio {med / base:5.2f}")


if __name__ == "__main__":
    main()
