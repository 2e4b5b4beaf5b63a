#!/usr/bin/env bash
# Builds a release so that nobody but root can change it afterwards. The release directory holds the source as
# root cloned it; this script copies the source to a scratch directory owned by an unprivileged build user
# (never the app user "flowers", which can read /etc/flowers/env), runs "npm ci", "npm run build" and
# "npm prune --omit=dev" there as that user, then copies dist/ and node_modules/ back into the release as root:
# every file root-owned, nothing writable by group or others, no set-id bit, no link leading out of the release.
# The app runs from it as "flowers" and only reads it; the backup (as postgres) and the rolling restart (as root)
# run scripts from it that neither user can alter.
#   usage (as root):  /srv/flowers/releases/<version>/deploy/build-release.sh /srv/flowers/releases/<version>
# Exercised by test/deploy/release.deploy.ts (with a stand-in for npm).
#
# Settings (environment): BUILD_USER (flowers-build), BUILD_TMP (/var/tmp: where the scratch directory goes),
# NPM (npm).
set -euo pipefail
umask 022

builder="${BUILD_USER:-flowers-build}"
tmp="${BUILD_TMP:-/var/tmp}"
npm="${NPM:-npm}"

log() { echo "build-release: $*"; }
fail() { echo "build-release: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: build-release.sh <release directory>" >&2; exit 2; }
[[ $EUID -eq 0 ]] || fail "run as root: the release must end up owned by root"
[[ -d "$1" ]] || fail "$1 is not a directory"
release="$(realpath -e "$1")"
[[ "$release" != / ]] || fail "refusing to build into /"
uid="$(id -u "$builder" 2>/dev/null)" || fail "no user '$builder' (adduser --system --group --home /var/lib/$builder $builder)"
[[ "$uid" != 0 ]] || fail "BUILD_USER must not be root: npm runs the packages' install scripts as that user"
gid="$(id -g "$builder")"
home="$(getent passwd "$builder" | cut -d: -f6)"

# The source must already be root's alone (as "git clone" by root leaves it), or what is built is not what was cloned.
[[ ! -e "$release/dist" && ! -e "$release/node_modules" ]] || fail "$release is already built (dist/ or node_modules/ exists)"
foreign="$(find "$release" \( ! -user root -o ! -group root -o \( ! -type l -perm /6022 \) \) -print -quit)"
[[ -z "$foreign" ]] || fail "$foreign is not root's alone (owner, group or mode): clone the release as root"

# Everything inside the scratch directory is done as the build user, never as root.
as_builder() { setpriv --reuid="$uid" --regid="$gid" --init-groups -- env HOME="$home" PATH="$PATH" "$@"; }
build="$(as_builder mktemp -d -p "$tmp" flowers-build.XXXXXX)"
trap 'as_builder rm -rf "$build"' EXIT

log "building in $build as $builder"
tar -C "$release" --exclude=./.git -cf - . | as_builder tar -C "$build" -xf -
as_builder env -C "$build" "$npm" ci --no-audit --no-fund
as_builder env -C "$build" "$npm" run build
as_builder env -C "$build" "$npm" prune --omit=dev --no-audit --no-fund

# Back into the release as root: root owns what tar creates, the umask takes group and other write away.
log "installing dist/ and node_modules/ into $release"
as_builder tar -C "$build" -cf - dist node_modules | tar -C "$release" --no-same-owner --no-same-permissions -xf -

undo() { rm -rf "$release/dist" "$release/node_modules"; fail "$1"; }
while IFS= read -r -d '' link; do
  target="$(realpath -m "$link")"
  [[ "$target" == "$release"/* ]] || undo "${link#"$release"/} leads out of the release (to $target): not installed"
done < <(find "$release/dist" "$release/node_modules" -type l -print0)
odd="$(find "$release" \( ! -user root -o ! -group root -o \( ! -type l -perm /6022 \) -o ! \( -type f -o -type d -o -type l \) \) -print -quit)"
[[ -z "$odd" ]] || undo "${odd#"$release"/} is not a root-owned, read-only file, directory or link: not installed"

log "done: $release is root's, read-only to everyone else"
