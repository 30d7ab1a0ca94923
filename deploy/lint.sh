#!/usr/bin/env bash
# Lints the container and Kubernetes files (no container engine or cluster needed): the Dockerfile with
# dockerfile-utils, and every manifest under deploy/k8s must parse as YAML with apiVersion, kind and metadata.name.
# Needs node/npx (the packages come from npm on first use). Exit status 1 on any problem.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v npx >/dev/null || { echo "deploy/lint.sh needs node and npx (Debian: apt-get install nodejs npm)" >&2; exit 1; }

echo "dockerfile-utils: Dockerfile"
npx --yes dockerfile-utils@0.16.3 lint Dockerfile

for manifest in deploy/k8s/*.yaml; do
  echo "js-yaml: $manifest"
  npx --yes js-yaml@4.1.0 "$manifest" | node -e '
    let text = ""; process.stdin.on("data", d => text += d).on("end", () => {
      const bad = [].concat(JSON.parse(text)).filter(d => !(d && d.apiVersion && d.kind && d.metadata && d.metadata.name));
      if (bad.length) { console.error(`${process.argv[1]}: ${bad.length} document(s) without apiVersion/kind/metadata.name`); process.exit(1); }
    });' "$manifest"
done
echo "deploy lint: ok"
