#!/usr/bin/env bash
# Regenerates the PyTorch fixtures into a temporary directory and compares them with the committed
# ones, byte for byte: the fixtures are what scripts/fixtures.py writes, nothing edited by hand.
# Needs Debian's python3-torch (bash scripts/setup.sh --bench); not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 scripts/fixtures.py --out "$tmp" > /dev/null
status=0
while IFS= read -r -d '' file; do
  rel=${file#"$tmp"/}
  if [ ! -f "test/fixtures/$rel" ]; then echo "check:fixtures: $rel is generated but not committed"; status=1
  elif ! cmp -s "$file" "test/fixtures/$rel"; then echo "check:fixtures: $rel differs from the committed file"; status=1; fi
done < <(find "$tmp" -type f -print0)
[ $status -eq 0 ] && echo "check:fixtures: every fixture matches what scripts/fixtures.py writes ($(find "$tmp" -type f | wc -l) files)"
exit $status
