#!/usr/bin/env bash
# One-shot, idempotent set-up of a Debian 12 (bookworm) machine for ig-search: system packages,
# npm dependencies, and the build (Rust → wasm32, then rollup). Safe to run again: what is already
# there is detected and kept.
#
#   bash scripts/setup.sh            # everything needed to run, test and develop
#   bash scripts/setup.sh --bench    # also OpenBLAS (pthread) so PyTorch runs bench/ and fixtures at speed
#
# System packages (apt; only the Debian mirror already configured is used):
#   - a Vulkan driver Dawn accepts: Mesa 25 lavapipe from bookworm-backports (stock Mesa 22 is
#     rejected by Dawn), unless Mesa >= 25 or a vendor Vulkan driver is already installed;
#   - Rust for wasm32: kept if a rustup toolchain already has wasm32-unknown-unknown, otherwise
#     Debian's rustc + cargo + libstd-rust-dev-wasm32 + lld (rustup cannot download offline);
#   - binaryen (wasm-opt), chromium + fonts-liberation (browser tests via playwright-core);
#   - python3-torch + python3-pytest: the verl integration's tests (integrations/verl/), which
#     `npm test` runs against golden vectors from the Rust core and the WebGPU scorer.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "setup: unknown option $arg (known: --bench)" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "setup: not root and no sudo; install the packages listed in scripts/setup.sh by hand" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do
    case "$p" in -*) continue ;; esac
    installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then "${sudo[@]}" apt-get update -qq; apt_updated=1; fi
  log "apt-get install ${missing[*]}"
  local flags=()
  for p in "$@"; do case "$p" in -*) flags+=("$p") ;; esac; done
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${flags[@]}" "${missing[@]}"
}

# --- Vulkan for Dawn (Node) and wgpu (Deno) ---------------------------------------------------
mesa_major() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/'; }
vendor_icd() {
  ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null \
    | grep -vE '/(lvp|radeon|intel|intel_hasvk|nouveau|virtio|freedreno|panfrost|asahi|broadcom|powervr_mesa|gfxstream_vk)_icd' | head -n1 || true
}
if [ "$(mesa_major || echo 0)" -ge 25 ] 2>/dev/null; then
  log "Vulkan: Mesa $(mesa_major) lavapipe present"
elif [ -n "$(vendor_icd)" ]; then
  log "Vulkan: vendor driver present ($(vendor_icd)); not installing lavapipe"
else
  if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(grep -m1 -oE 'https?://[^ ]+/debian' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { echo "setup: cannot find the Debian mirror in /etc/apt to add bookworm-backports" >&2; exit 1; }
    log "adding bookworm-backports from $uri (for Mesa 25: Dawn rejects Mesa 22's lavapipe)"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | "${sudo[@]}" tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    apt_updated=0
  fi
  if [ $apt_updated -eq 0 ]; then "${sudo[@]}" apt-get update -qq; apt_updated=1; fi
  log "apt-get install -t bookworm-backports mesa-vulkan-drivers"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
fi

# --- Rust → wasm32 -------------------------------------------------------------------------------
if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "Rust: rustup toolchain with wasm32-unknown-unknown present"
else
  apt_install rustc cargo libstd-rust-dev-wasm32 lld
fi

# --- wasm-opt, browser --------------------------------------------------------------------------
apt_install binaryen chromium fonts-liberation ca-certificates

# --- Python for integrations/verl (tests) and scripts/ (fixtures) -------------------------------
apt_install python3-torch python3-pytest

if [ $bench -eq 1 ]; then
  # bench/ comparisons against PyTorch: without OpenBLAS (pthread) torch falls back to a
  # reference BLAS ~20x slower.
  apt_install libopenblas0-pthread
fi

# --- npm + build ---------------------------------------------------------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # Not `npm ci`: the lockfile lists only the platform packages (deno, rollup, esbuild) that this
  # registry resolves, and `npm ci` refuses such a lockfile as out of sync. `install --no-save`
  # installs exactly the locked versions and leaves package-lock.json untouched.
  log "npm install (locked versions)"
  npm install --no-save --no-audit --no-fund
fi
log "build"
npm run build --silent
log "done"
