#!/usr/bin/env bash
# Builds broker_VERSION_ARCH.deb from the static release binary with dpkg-deb, offline:
#   scripts/make-deb.sh [OUTPUT_DIRECTORY]     (default .build/deb; `make deb` runs it)
#
# The package: /usr/bin/broker (stripped), its systemd unit in /lib/systemd/system (enabled on
# install, not started: the broker needs its settings first), /etc/broker/broker.yaml,
# broker.env and rules/default.yaml as conffiles, a `broker` system user that the unit's
# DynamicUser= takes as its own, a man page made from `broker --help`, the copyright and the
# changelog. DEB_MAINTAINER names the maintainer (a placeholder address otherwise). Its dependencies are what dpkg-shlibdeps finds the binary needs, plus adduser.
# The version is the binary's (`broker --version`), a pre-release written with `~` so that
# dpkg sorts it before the release: 0.10.0-dev.12+1fd96c7a2b3c becomes 0.10.0~dev.12+1fd96c7a2b3c.
set -euo pipefail
cd "$(dirname "$0")/.."
output=${1:-.build/deb}
binary=.build/release/broker
[ -x "$binary" ] || { echo "make-deb: $binary is missing: run make release" >&2; exit 2; }
for tool in dpkg-deb dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || { echo "make-deb: $tool is missing (Debian's dpkg-dev)" >&2; exit 2; }
done

semantic=$("$binary" --version | awk '{print $1}')
# The first hyphen starts the pre-release (~ sorts it first); others (-dirty) would read as a
# Debian revision.
version=${semantic/-/\~}
version=${version//-/.}
maintainer=${DEB_MAINTAINER:-broker maintainers <broker@example.org>}
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/broker-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
echo "make-deb: broker $version ($arch)"

# Files, with the modes Debian expects.
install -D -m 0755 "$binary" "$root/usr/bin/broker"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/broker"
install -d "$root/lib/systemd/system"
sed 's|/usr/local/bin/|/usr/bin/|g' deploy/broker.service >"$root/lib/systemd/system/broker.service"
chmod 0644 "$root/lib/systemd/system/broker.service"
install -D -m 0644 deploy/broker.yaml "$root/etc/broker/broker.yaml"
install -D -m 0640 deploy/broker.env "$root/etc/broker/broker.env"
install -D -m 0644 rules/default.yaml "$root/etc/broker/rules/default.yaml"
docs=$root/usr/share/doc/broker
install -d "$docs" "$root/usr/share/man/man1"

# The man page, from the help texts: the tool's own words, so it cannot drift from them.
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
bash scripts/man-page.sh "$binary" "$semantic" "$date" | gzip -9n >"$root/usr/share/man/man1/broker.1.gz"

# Copyright (machine-readable, DEP-5) and a Debian changelog for a native package.
cat >"$docs/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: broker
Source: https://github.com/broker/broker

Files: *
Copyright: 2026 the broker authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not use
 this file except in compliance with the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can be
 found in "/usr/share/common-licenses/Apache-2.0".
EOF
chmod 0644 "$docs/copyright"
{
  echo "broker ($version) unstable; urgency=medium"
  echo
  echo "  * Built from commit $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); see"
  echo "    /usr/share/doc/broker/CHANGELOG.md.gz for what changed."
  echo
  echo " -- $maintainer  $(date -u -R -d "$date")"
} | gzip -9n >"$docs/changelog.gz"
gzip -9n <CHANGELOG.md >"$docs/CHANGELOG.md.gz"
chmod 0644 "$docs/changelog.gz" "$docs/CHANGELOG.md.gz" "$root/usr/share/man/man1/broker.1.gz"

# The dependencies the binary has, as dpkg-shlibdeps reads them off its ELF needs.
mkdir -p "$stage/debian"
printf 'Source: broker\n\nPackage: broker\nArchitecture: any\n' >"$stage/debian/control"
depends=$(cd "$stage" && dpkg-shlibdeps -O "root/usr/bin/broker" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "make-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<EOF
Package: broker
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: adduser, $depends
Section: net
Priority: optional
Homepage: https://github.com/broker/broker
Description: declarative message router for multi-agent systems
 Routes the messages agents send through an agent server: each message is
 taken from a RabbitMQ queue, decided by YAML rule files compiled into a
 predicate tree against a live registry of agents, and published for
 delivery, acknowledged only once the output is confirmed.
 .
 Rules are checked with "broker validate-rules" and "broker test-rules" and
 reloaded without a restart. The service is enabled on install but not
 started: set /etc/broker/broker.yaml and broker.env first, then
 "systemctl start broker".
EOF
printf '/etc/broker/broker.env\n/etc/broker/broker.yaml\n/etc/broker/rules/default.yaml\n' >"$root/DEBIAN/conffiles"

cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# broker: a system user for the service, then the unit enabled (not started: it needs its
# settings in /etc/broker first).
set -e
if [ "$1" = configure ]; then
  if ! getent passwd broker >/dev/null; then
    adduser --system --group --quiet --home /var/lib/broker --no-create-home \
      --gecos "broker message router" broker
  fi
  chgrp broker /etc/broker/broker.env
  chmod 0640 /etc/broker/broker.env
fi
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
  if command -v deb-systemd-helper >/dev/null; then
    deb-systemd-helper unmask broker.service >/dev/null || true
    if deb-systemd-helper --quiet was-enabled broker.service; then
      deb-systemd-helper enable broker.service >/dev/null || true
    else
      deb-systemd-helper update-state broker.service >/dev/null || true
    fi
  fi
  if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
    # An upgrade restarts a broker that runs (it drains first); a new install starts nothing.
    if [ -n "$2" ] && systemctl --quiet is-active broker.service; then
      deb-systemd-invoke restart broker.service || true
    fi
  fi
fi
exit 0
EOF
cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# broker: stopped (drained) before it is removed.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  deb-systemd-invoke stop broker.service >/dev/null || true
fi
exit 0
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# broker: the unit forgotten on purge (the user stays, as Debian keeps system users).
set -e
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
  deb-systemd-helper purge broker.service >/dev/null || true
  deb-systemd-helper unmask broker.service >/dev/null || true
fi
exit 0
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print0 | sort -z |
  xargs -0 md5sum | sed 's|  \./|  |') >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"

mkdir -p "$output"
package="$output/broker_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$package" >/dev/null
echo "make-deb: $package ($(du -k "$package" | cut -f1) KiB; binary $(du -k "$root/usr/bin/broker" | cut -f1) KiB)"
