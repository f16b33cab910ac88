#!/usr/bin/env bash
# Linux and macOS: installs minikube, kubectl and helm with the platform's usual tools (Homebrew on macOS; the
# upstream static binaries on Linux, into ~/.local/bin), installs interlok-k8s from this checkout with cargo, and
# checks the PATH order the way the wizard does.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${HOME}/.local/bin"

case "$(uname -s)" in
  Darwin)
    brew install minikube kubectl helm
    ;;
  Linux)
    mkdir -p "$bin"
    arch="$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')"
    if ! command -v kubectl >/dev/null; then
      version="$(curl -fsSL https://dl.k8s.io/release/stable.txt)"
      curl -fsSLo "$bin/kubectl" "https://dl.k8s.io/release/${version}/bin/linux/${arch}/kubectl" && chmod +x "$bin/kubectl"
    fi
    if ! command -v minikube >/dev/null; then
      curl -fsSLo "$bin/minikube" "https://storage.googleapis.com/minikube/releases/latest/minikube-linux-${arch}" && chmod +x "$bin/minikube"
    fi
    if ! command -v helm >/dev/null; then
      curl -fsSL https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3 | HELM_INSTALL_DIR="$bin" USE_SUDO=false bash
    fi
    ;;
  *)
    echo "unsupported system $(uname -s); on Windows use scripts/install-prereqs.ps1" >&2
    exit 2
    ;;
esac

if command -v cargo >/dev/null; then
  cargo install --path "$root" --locked
fi

# The same PATH-order check the wizard's kubectl-path stage does.
first=""
while IFS= read -r kubectl; do
  version="$("$kubectl" version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' || echo unknown)"
  echo "kubectl on PATH: $kubectl ($version)"
  if [ -z "$first" ]; then first="$version"; elif [ "$version" != "$first" ]; then
    echo "warning: several kubectl versions on PATH; the first one ($first) wins — put the newest first" >&2
  fi
done < <(type -ap kubectl)
echo "Next: interlok-k8s setup"
