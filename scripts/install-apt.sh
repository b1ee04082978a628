#!/usr/bin/env bash
# Installs the Debian packages the tests use, only when one is missing.
# xvfb/xdotool/x11-utils: a real X server and input; tesseract-ocr: the judge of blur;
# chromium: the browser Playwright drives; oathtool: an independent TOTP/HOTP check;
# haproxy: the load balancer in front of several server nodes; openssl: the test's own CA and certificate;
# trayer: an XEmbed system tray for the tray icon's test; x11-xserver-utils: xrandr splits Xvfb into monitors.
# binutils: objdump, which PyInstaller needs to bundle the agent (make dist).
# sway/swaybg/grim/wtype: a headless Wayland compositor, its background, its screenshots and typed input.
# dbus-daemon: a private session bus for the GNOME/KDE D-Bus adapters' tests.
# xdg-desktop-portal(-wlr, and -gtk for the Access backend 1.16 needs)/pipewire: the real screenshot portal on sway.
# mutter: GNOME's compositor, headless, whose IdleMonitor the GNOME idle clock reads.
# valgrind: bench/bench_instructions.py counts the server's instructions per request (host-independent).
set -euo pipefail
packages=(xvfb xdotool x11-utils tesseract-ocr oathtool chromium haproxy openssl trayer x11-xserver-utils binutils
          sway swaybg grim wtype dbus-daemon xdg-desktop-portal xdg-desktop-portal-wlr xdg-desktop-portal-gtk
          pipewire mutter valgrind)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
echo "Installing Debian packages: ${missing[*]}"
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
