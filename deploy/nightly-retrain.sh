#!/bin/sh
# Nightly retrain with a gate, from the commands vecclf has today:
# train a new version (not promoted), run the behavioural checks on it, and
# promote it only if they pass and its accuracy is not worse than the current
# version's. The running service picks up the promotion by itself.
# Usage: nightly-retrain.sh MODEL DATA_FILE
set -eu
model="$1"; data="$2"
: "${VECCLF_STORE:=/var/lib/vecclf/models}"; export VECCLF_STORE
vecclf=${VECCLF_BIN:-vecclf}

report=$($vecclf train --name "$model" --data "$data" --test-size 0.2)
version=$(printf '%s' "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
new_acc=$(printf '%s' "$report" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["accuracy"])')
old_acc=$($vecclf models show "$model" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["accuracy"])')

if ! $vecclf check --name "$model" --version "$version" >/dev/null; then
    echo "vecclf-retrain: $model $version failed its behavioural checks; keeping the current version" >&2
    exit 1
fi
if python3 -c "import sys; sys.exit(0 if float('$new_acc') + 0.005 >= float('$old_acc') else 1)"; then
    $vecclf models promote "$model" "$version"
else
    echo "vecclf-retrain: $model $version accuracy $new_acc < current $old_acc; keeping the current version" >&2
fi
