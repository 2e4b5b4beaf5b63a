#!/usr/bin/env bash
# Daily database backup of the Flower Account Service: pg_dump in custom format (-Fc, compressed, restorable
# with pg_restore), checked by reading its table of contents, then rotation that keeps the newest $KEEP dumps.
# Run by flowers-backup.timer as the "postgres" user (peer authentication on the local socket; no password
# on disk). Restore: deploy/backup/flowers-restore.sh. Tested by test/deploy/backup.deploy.ts.
#
# Settings (environment): PGDATABASE (default flowers), BACKUP_DIR (default /var/backups/flowers),
# KEEP (default 14), and libpq's own PGHOST, PGPORT, PGUSER, PGPASSFILE when not on the local socket.
set -euo pipefail

database="${PGDATABASE:-flowers}"
dir="${BACKUP_DIR:-/var/backups/flowers}"
keep="${KEEP:-14}"
[[ "$keep" =~ ^[1-9][0-9]*$ ]] || { echo "flowers-backup: KEEP must be a positive whole number (got '$keep')" >&2; exit 2; }

umask 077
mkdir -p "$dir"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
final="$dir/$database-$stamp.dump"
partial="$final.partial"
trap 'rm -f "$partial"' EXIT

# A dump that fails half-way is never mistaken for a backup: it is written under .partial and renamed only
# when pg_dump succeeded and pg_restore can read it back.
pg_dump --format=custom --compress=6 --no-password --dbname="$database" --file="$partial"
pg_restore --list "$partial" > /dev/null
mv "$partial" "$final"
sync "$final"

# Rotation: only files named by this script; the newest $keep stay (names sort by time).
pattern="$database-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z.dump"
mapfile -t dumps < <(find "$dir" -maxdepth 1 -type f -name "$pattern" -printf '%f\n' | sort -r)
for old in "${dumps[@]:keep}"; do
  rm -f -- "$dir/$old"
done

echo "flowers-backup: $final ($(stat -c %s "$final") bytes); keeping $(( ${#dumps[@]} < keep ? ${#dumps[@]} : keep )) dumps in $dir"
