#!/usr/bin/env bash
# Make the Debian base image from Debian's own packages, for machines where no container
# registry answers: debootstrap (minbase) into a folder, trim it, `docker import` it.
#
# Tags $DEBIAN_BASE_IMAGE (default kontaxa/debian-base:bookworm). Runs as root (debootstrap
# and chroot need it) and installs debootstrap with apt-get when it is missing. The mirror is
# the one this machine's apt uses unless DEBIAN_MIRROR says otherwise. See lib.sh for knobs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_docker
[[ $EUID -eq 0 || "$DRY_RUN" == "1" ]] || die "debootstrap needs root"

# Sites of this machine's apt sources for a suite (e.g. bookworm-security), one per line.
apt_sites() {
  apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null | awk -v suite="$1" '$2 == suite { print $1 }' | sort -u
}

mirror="${DEBIAN_MIRROR:-$(apt_sites "$DEBIAN_SUITE" | head -n 1)}"
[[ -n "$mirror" ]] || die "no Debian mirror for $DEBIAN_SUITE in this machine's apt sources; set DEBIAN_MIRROR"
updates_site="$(apt_sites "$DEBIAN_SUITE-updates" | head -n 1)"
security_site="$(apt_sites "$DEBIAN_SUITE-security" | head -n 1)"

if ! command -v debootstrap >/dev/null; then
  log "installing debootstrap with apt-get"
  run apt-get install -y -q --no-install-recommends debootstrap >/dev/null ||
    { run apt-get update -q >/dev/null && run apt-get install -y -q --no-install-recommends debootstrap >/dev/null; }
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/kontaxa-rootfs.XXXXXX")"
chmod 0755 "$rootfs" # becomes the image's /: every user must traverse it
cleanup() {
  if mountpoint -q "$rootfs/proc"; then umount "$rootfs/proc"; fi
  rm -rf "$rootfs" "$rootfs.log"
}
trap cleanup EXIT

started=$SECONDS
log "debootstrap --variant=minbase $DEBIAN_SUITE from $mirror"
run debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
  die "debootstrap failed: $(tail -n 3 "$rootfs.log")"
[[ "$DRY_RUN" == "1" ]] && exit 0

# apt inside the image: the same sites as this machine (updates and security included), no
# recommends, no docs, man pages or translations, and the host's date checks (a mirror
# snapshot would otherwise be refused as expired).
{
  for suite_site in "$DEBIAN_SUITE $mirror" "$DEBIAN_SUITE-updates $updates_site" "$DEBIAN_SUITE-security $security_site"; do
    read -r suite site <<<"$suite_site"
    [[ -n "${site:-}" ]] || continue
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n' "$site" "$suite"
  done
} >"$rootfs/etc/apt/sources.list.d/debian.sources"
rm -f "$rootfs/etc/apt/sources.list"
{
  echo 'APT::Install-Recommends "false";'
  echo 'APT::Install-Suggests "false";'
  apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date) ' || true
} >"$rootfs/etc/apt/apt.conf.d/90kontaxa"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90kontaxa-minimal" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF

# Security updates now, so every image starts patched.
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
log "applying updates inside the new root"
chroot "$rootfs" /bin/sh -c 'export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get upgrade -y -q && apt-get clean' >"$rootfs.log" 2>&1 ||
  die "apt-get upgrade failed inside the new root: $(tail -n 3 "$rootfs.log")"
umount "$rootfs/proc"

# What docker manages or a container must not inherit.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/usr/share/{man,info,lintian}/* "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* \
  "$rootfs"/tmp/* "$rootfs"/var/tmp/*
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
: >"$rootfs/etc/machine-id"

log "docker import -> $DEBIAN_BASE_IMAGE"
tar --numeric-owner -C "$rootfs" -c . |
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $DEBIAN_SUITE" \
    - "$DEBIAN_BASE_IMAGE" >/dev/null
log "made $DEBIAN_BASE_IMAGE in $((SECONDS - started))s ($("$DOCKER" image inspect --format '{{.Size}}' "$DEBIAN_BASE_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
