#!/usr/bin/env bash
# Build the colcon workspace ros2_ws/ (src/physgen -> the repository root) into a temporary
# directory, once as a copy install and once with --symlink-install, and check the result:
#   - colcon finds exactly one package, physgen (ament_python);
#   - the install has the ament index marker, share/physgen/package.xml, every data file of sim/
#     and models/ under share/physgen/, the launch files and parameter files, and the `physgen`
#     executable and every node's executable in lib/physgen/;
#   - with the install sourced, from outside the repository, physgen.resources.data_dir('sim')
#     resolves (copy install: to the install's share/physgen/sim, not to the checkout).
# Nothing is written into the checkout or ros2_ws/{build,install,log}.
#
# Assumes colcon and the project's python3 are on PATH (CI activates the venv first).
# Set KEEP_COLCON_TMP=1 to keep the temporary directory for inspection.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
WS_SRC="$REPO/ros2_ws/src"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/physgen-colcon.XXXXXX")"
cleanup() {
    if [[ "${KEEP_COLCON_TMP:-0}" == 1 ]]; then
        echo "check_colcon: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

fail() {
    echo "check_colcon: FAIL: $*" >&2
    exit 1
}

command -v colcon >/dev/null || fail "colcon is not on PATH (activate the venv: pip install -e .[test])"
command -v python3 >/dev/null || fail "python3 is not on PATH"

# The workspace's package link must point at this checkout.
[[ -L "$WS_SRC/physgen" ]] || fail "$WS_SRC/physgen is not a symlink"
[[ "$(cd "$WS_SRC/physgen" && pwd -P)" == "$REPO" ]] || fail "$WS_SRC/physgen does not resolve to $REPO"

# Exactly one package: colcon does not descend into a package's directory, so the checkout's own
# ros2_ws/ and .venv/ (reachable again through the symlink) are never crawled.
listing="$(cd "$TMP" && colcon --log-base /dev/null list --base-paths "$WS_SRC")"
echo "check_colcon: colcon list: $listing"
[[ "$(printf '%s\n' "$listing" | wc -l)" == 1 ]] || fail "expected exactly one package, got: $listing"
[[ "$listing" == physgen$'\t'*'(ros.ament_python)' ]] || fail "unexpected package listing: $listing"

# Python that checks the install; run from $TMP so the checkout is not on sys.path.
read -r -d '' CHECK_PY <<'EOF' || true
import os
import sys
from pathlib import Path

repo, install, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
prefix = install / "physgen"
share = prefix / "share" / "physgen"
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)


check((prefix / "share/ament_index/resource_index/packages/physgen").is_file(), "ament index marker missing")
check((share / "package.xml").is_file(), "share/physgen/package.xml missing")
exe = prefix / "lib" / "physgen" / "physgen"
check(exe.is_file() and os.access(exe, os.X_OK), f"{exe} missing or not executable")
check(not (prefix / "bin" / "physgen").exists(), "physgen installed to bin/ instead of lib/physgen/")
# Every node runs with `ros2 run physgen NAME`, and the launch files find their executables and files.
nodes = sorted(p.stem for p in (repo / "physgen_nodes").glob("*_node.py"))
check(len(nodes) >= 5, f"expected at least 5 nodes in physgen_nodes/, found {nodes}")
for node in nodes:
    exe = prefix / "lib" / "physgen" / node
    check(exe.is_file() and os.access(exe, os.X_OK), f"node executable lib/physgen/{node} missing")
for folder, pattern in (("launch", "*.launch.py"), ("config", "*.yaml")):
    for f in sorted((repo / folder).glob(pattern)):
        check((share / folder / f.name).is_file(), f"share/physgen/{folder}/{f.name} missing")

# Same rules as setup.py's tree_data_files().
n_files = 0
for folder in ("sim", "models"):
    for root, dirs, files in os.walk(repo / folder):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "checkpoints") and not d.startswith(".")]
        for f in files:
            if f.startswith(".") or f.endswith((".pyc", ".pyo")):
                continue
            rel = Path(root, f).relative_to(repo)
            n_files += 1
            check((share / rel).is_file(), f"share/physgen/{rel} missing")
check((share / "sim/urdf/table.urdf").is_file(), "share/physgen/sim/urdf/table.urdf missing")

try:
    import physgen
    from physgen.resources import data_dir

    pkg_file = Path(physgen.__file__)
    print(f"check_colcon[{mode}]: physgen imported from {pkg_file}")
    sim = data_dir("sim")
    print(f"check_colcon[{mode}]: data_dir('sim') = {sim}")
except Exception as e:  # report it with the other findings
    errors.append(f"{type(e).__name__}: {e}")
else:
    check((sim / "urdf" / "table.urdf").is_file(), f"data_dir('sim') = {sim} has no urdf/table.urdf")
    if mode == "copy":
        inst = install.resolve()
        check(pkg_file.resolve().is_relative_to(inst), f"physgen imported from outside the install: {pkg_file}")
        check(sim.resolve().is_relative_to(inst), f"data_dir('sim') is outside the install: {sim}")
    else:
        # setup.py develop: the package (and so data_dir) resolves through symlinks to the checkout;
        # with setuptools >= 80 colcon falls back to a copy install. Either is fine.
        inside = sim.resolve().is_relative_to(install.resolve()) or sim.resolve() == (repo / "sim").resolve()
        check(inside, f"data_dir('sim') is neither the install's nor the checkout's: {sim}")

if errors:
    for e in errors:
        print(f"check_colcon[{mode}]: {e}", file=sys.stderr)
    sys.exit(1)
print(f"check_colcon[{mode}]: ok ({n_files} data files of sim/ and models/ installed)")
EOF

build_and_check() {
    local mode="$1"
    shift
    local base="$TMP/$mode"
    mkdir -p "$base"
    echo "check_colcon: colcon build $* (build, install and log under $base)"
    if ! (cd "$TMP" && colcon --log-base "$base/log" build --base-paths "$WS_SRC" \
            --build-base "$base/build" --install-base "$base/install" "$@"); then
        cat "$base"/log/latest_build/physgen/stdout_stderr.log >&2 || true
        fail "colcon build $* failed"
    fi
    # Source the install the way a user would, in a subshell, and check from outside the checkout.
    (
        set +u
        # shellcheck disable=SC1091
        source "$base/install/local_setup.bash"
        set -u
        cd "$TMP"
        python3 -c "$CHECK_PY" "$REPO" "$base/install" "$mode"
    ) || fail "install check ($mode) failed"
}

build_and_check copy
build_and_check symlink --symlink-install

echo "check_colcon: all checks passed"
