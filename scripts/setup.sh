#!/usr/bin/env bash
# Sets up a fresh clone: node modules, libtensorflow for tfjs-node, a Python venv with MLflow,
# and a build of every package. Safe to run again: each step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*" >&2; }
die() { printf '\nsetup: ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "Node.js is not installed (synthmix needs Node 20.9 or newer)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=9)?0:1)' \
  || die "Node $(node --version) is too old; synthmix needs Node 20.9 or newer"
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || die "$PYTHON is not installed (needed for the TensorFlow wheel and MLflow)"

step "node modules (npm ci)"
# npm ci wipes node_modules (and the TensorFlow binding built into it): only when the lock changed.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -d node_modules ] && [ "$(cat node_modules/.synthmix-lock 2>/dev/null)" = "$lock_hash" ]; then
  echo "node_modules matches package-lock.json" >&2
else
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.synthmix-lock
fi

step "libtensorflow for @tensorflow/tfjs-node"
node scripts/setup-tensorflow.mjs ${SYNTHMIX_SETUP_TF_ARGS:-}

step "graph addon for compiled training steps (@synthmix/compile)"
node scripts/build-graph-addon.mjs $(printf '%s' "${SYNTHMIX_SETUP_TF_ARGS:-}" | grep -o -- '--gpu' || true)

step "Python environment with MLflow and Ray (.venv)"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || die "could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)"
fi
if ! .venv/bin/python - <<'PY' 2>/dev/null
import importlib.metadata as m, pathlib, re
want = {}
for line in pathlib.Path("python/requirements.txt").read_text().splitlines():
    line = line.split("#")[0].strip()
    if line:
        name, version = re.split("==", line)
        want[re.sub(r"\[.*\]", "", name)] = version
raise SystemExit(0 if all(m.version(n) == v for n, v in want.items()) else 1)
PY
then
  .venv/bin/pip install --disable-pip-version-check -q -r python/requirements.txt || die "pip could not install python/requirements.txt into .venv"
else
  echo ".venv is up to date" >&2
fi

step "build"
NX_DAEMON=false npx nx run-many -t build --output-style=static >/dev/null || die "the build failed; run: npx nx run-many -t build"
echo "setup: done. Try: npx synthmix doctor" >&2
