#!/usr/bin/env bash
# Writes the broker(1) man page (roff) to standard output, made from the binary's own help:
#   scripts/man-page.sh BINARY VERSION DATE
# The overview and the command list come from `broker --help`, and each command's section
# from `broker COMMAND --help`, so the page says what the binary says.
set -euo pipefail
binary=$1 version=$2 date=$3

# Help text as roff: backslashes and leading dots or quotes escaped, blank lines as paragraphs.
roff() {
  sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" -e 's/^$/.PP/'
}

help=$(COLUMNS=78 "$binary" --help)
commands=$(sed -n '/^SUBCOMMANDS:/,/^$/p' <<<"$help" | awk '/^  [a-z]/ { print $1 }')

echo ".TH BROKER 1 \"$date\" \"broker $version\" \"User Commands\""
echo ".SH NAME"
echo "broker \\- declarative message router for multi-agent systems"
echo ".SH SYNOPSIS"
echo ".B broker"
echo ".I command"
echo "[\\fIoptions\\fR]"
echo ".SH DESCRIPTION"
sed -n '/^OVERVIEW:/,/^USAGE:/p' <<<"$help" | sed -e '1s/^OVERVIEW: *//' -e '$d' | roff
echo ".SH COMMANDS"
for command in $commands; do
  echo ".SS $command"
  echo ".nf"
  COLUMNS=78 "$binary" "$command" --help 2>&1 | roff | sed 's/^\.PP$//'
  echo ".fi"
done
echo ".SH FILES"
echo ".TP"
echo ".I /etc/broker/broker.yaml"
echo "Settings of \\fBbroker run\\fR (\\-\\-config)."
echo ".TP"
echo ".I /etc/broker/broker.env"
echo "Secrets and environment (RABBITMQ_URL, WEBSOCKET_URL), read by the systemd unit."
echo ".TP"
echo ".I /etc/broker/rules/"
echo "The rule files."
echo ".SH SEE ALSO"
echo "\\fBsystemctl\\fR(1), /usr/share/doc/broker/"
