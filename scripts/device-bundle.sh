#!/usr/bin/env bash
# Prepares .device/ (gitignored) for a GPU machine that cannot reach npm, where only the working tree
# and a few ignored paths (64 MiB in all) travel: the benches compiled to plain ESM (no tsx there) and
# Dawn's Linux x64 build alone (its npm package holds every platform, 132 MiB). With dist/ beside it
# (~23 MiB), that is ~45 MiB. On the GPU machine, from the repository root:
#   bash .device/run.sh gpu matmul scoring rollout step      # doctor first, then each bench
# PyTorch there is optional (the benches print "torch skipped" without it); IG_SEARCH_PYTHON picks
# the interpreter when it is not /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/node.js ] || npm run build
rm -rf .device
mkdir -p .device/webgpu/dist .device/bench
cp node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/LICENSE.md .device/webgpu/
cp -r node_modules/webgpu/dist/linux-x64 .device/webgpu/dist/
for file in bench/*.ts; do
  name=$(basename "$file" .ts)
  case "$name" in _*) continue ;; esac
  # ig-search resolves to dist/ through the package's own exports; webgpu to the copy above.
  npx esbuild "$file" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --external:ig-search --external:'ig-search/*' --external:webgpu --outfile=".device/bench/$name.mjs"
done
cat > .device/run.sh <<'RUN'
#!/usr/bin/env bash
# bash .device/run.sh BENCH...   (from the repository root on the GPU machine)
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p node_modules bench/results
[ -e node_modules/webgpu ] || ln -s ../.device/webgpu node_modules/webgpu
node bin/ig-search.js doctor
for name in "$@"; do
  echo "== bench $name"
  node --expose-gc ".device/bench/$name.mjs"
done
RUN
chmod +x .device/run.sh
du -sh .device dist | sed 's/^/size: /'
