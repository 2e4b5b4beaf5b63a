#!/usr/bin/env bash
# Restores a dump made by flowers-backup.sh into a NEW database (never over the live one), so that it can be
# checked before the app is pointed at it. Usage (as the "postgres" user):
#   flowers-restore.sh /var/backups/flowers/flowers-20260101T033000Z.dump flowers_restored
# Then, with the app stopped: ALTER DATABASE flowers RENAME TO flowers_old; ALTER DATABASE flowers_restored
# RENAME TO flowers; start the app (docs/OPERATIONS.md, "Restore"). OWNER (default flowers) owns the restored
# objects. Tested by test/deploy/backup.deploy.ts.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: flowers-restore.sh <dump file> <new database name>" >&2
  exit 2
fi
dump="$1"
target="$2"
owner="${OWNER:-flowers}"
[[ -r "$dump" ]] || { echo "flowers-restore: cannot read $dump" >&2; exit 2; }
[[ "$target" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "flowers-restore: '$target' is not a plain database name" >&2; exit 2; }

pg_restore --list "$dump" > /dev/null
createdb --no-password --owner="$owner" "$target"
# One transaction: either the whole dump is restored or the new database stays empty.
pg_restore --no-password --exit-on-error --single-transaction --no-owner --role="$owner" --dbname="$target" "$dump"
psql --no-password --quiet --dbname="$target" --command="ANALYZE"
echo "flowers-restore: $dump restored into database $target (owner $owner)"
