#!/bin/sh
# Lints deploy/ with the real tools, since Docker and Kubernetes cannot run here
# (`make lint-deploy`; tests/deploy runs the same linters and checks what schemas cannot see).
# Usage: deploy/lint.sh [BIN]   -- BIN is where the linters are (default .venv/bin).
set -eu
BIN=${1:-.venv/bin}
DEPLOY=$(dirname "$0")

"$BIN/hadolint" --no-color --failure-threshold style "$DEPLOY/Dockerfile"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec "$DEPLOY/compose.yaml"
"$BIN/yamllint" --strict -c "$DEPLOY/.yamllint.yaml" "$DEPLOY"
"$BIN/kubernetes-validate" --strict --quiet "$DEPLOY"/kubernetes/*.yaml

# systemd-analyze verify needs ExecStart's binary to exist: verify a copy that points at a stub.
# It exits 0 on unknown keys and bad values, so any complaint naming the unit fails too.
if ! command -v systemd-analyze >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then echo "systemd-analyze is missing" >&2; exit 1; fi
    echo "systemd-analyze not installed: hashcart.service not verified" >&2
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
printf '#!/bin/sh\nexit 0\n' >"$work/bin/hashcart"
chmod +x "$work/bin/hashcart"
sed "s#/opt/hashcart/bin/hashcart#$work/bin/hashcart#g" "$DEPLOY/systemd/hashcart.service" \
    >"$work/hashcart.service"
if ! out=$(cd "$work" && systemd-analyze verify "$work/hashcart.service" 2>&1) \
    || printf '%s' "$out" | grep -q hashcart; then
    printf '%s\n' "$out" >&2
    exit 1
fi
echo "ok -- systemd-analyze verify hashcart.service"
