#!/usr/bin/env bash
# Writes deploy/k8s/release/kustomization.yaml: the overlay of ENVIRONMENT
# with both services' images pinned to digests in OWNER's GHCR packages.
# The promote workflow renders and applies it; so can an operator:
#
#   deploy/k8s/pin-digests.sh prod my-org sha256:... sha256:...
#   kubectl apply -k deploy/k8s/release
#
#   usage: deploy/k8s/pin-digests.sh ENVIRONMENT OWNER MODEL_DIGEST FRONTEND_DIGEST
set -euo pipefail
if [ $# -ne 4 ]; then
	echo "usage: $0 ENVIRONMENT OWNER MODEL_DIGEST FRONTEND_DIGEST" >&2
	exit 2
fi
env=$1 model=$3 frontend=$4
owner=$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')
case "$env" in dev | staging | prod) ;; *)
	echo "pin-digests: ENVIRONMENT: want dev, staging or prod, got '$env'" >&2
	exit 1
	;;
esac
if ! [[ "$owner" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ ]]; then
	echo "pin-digests: OWNER: want a GitHub user or organization name, got '$2'" >&2
	exit 1
fi
for d in "MODEL_DIGEST=$model" "FRONTEND_DIGEST=$frontend"; do
	if ! [[ "${d#*=}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
		echo "pin-digests: ${d%%=*}: want sha256: and 64 hex digits, got '${d#*=}'" >&2
		exit 1
	fi
done
dir="$(cd "$(dirname "$0")" && pwd)/release"
mkdir -p "$dir"
cat >"$dir/kustomization.yaml" <<YAML
# Written by deploy/k8s/pin-digests.sh: $env, by digest.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../overlays/$env
images:
  - name: ghcr.io/palmerops/penguins-model-service
    newName: ghcr.io/$owner/penguins-model-service
    digest: $model
  - name: ghcr.io/palmerops/penguins-frontend-service
    newName: ghcr.io/$owner/penguins-frontend-service
    digest: $frontend
YAML
echo "$dir/kustomization.yaml"
