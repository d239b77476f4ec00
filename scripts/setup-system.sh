#!/usr/bin/env bash
# System packages hearth's tests use: espeak-ng (speech fixtures), ffmpeg (media tools),
# chromium (browser tests), CJK fonts (Chinese text in the UI). Installs only what is missing.
set -euo pipefail
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
fc-list 2>/dev/null | grep -qi "noto sans cjk" || need+=(fonts-noto-cjk)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "hearth setup: please install these system packages (as root): ${need[*]}" >&2
    exit 0
  fi
fi
echo "Installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >/dev/null
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
