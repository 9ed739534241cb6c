#!/usr/bin/env bash
# Installs everything dsqlcdc needs to build, test and run its demo, from
# Debian 12 packages. Run as root. Safe to run again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ca-certificates
  libpq-dev librdkafka-dev libssl-dev libcurl4-openssl-dev
  libjansson-dev libmicrohttpd-dev libcmocka-dev
  postgresql-15 postgresql-client-15 kcat
)
# Node.js runs kinesalite, the Kinesis API server of the stream-source tests.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (apt-get install)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "install-deps.sh: ${#packages[@]} packages present"
