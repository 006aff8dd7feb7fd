#!/bin/sh
# Create a mosquitto password file from "user:password" lines (stdin or a file).
#   ./make-passwd.sh users.txt passwd        (users.txt: one "user:password" per line)
# Passwords are stored hashed (mosquitto_passwd). A user name is also the wearer's topic level,
# so it must not contain '/', '+' or '#'. Keep users.txt out of version control.
set -eu
src=${1:--}
out=${2:-passwd}
command -v mosquitto_passwd >/dev/null || { echo "mosquitto_passwd not found (Debian: apt-get install mosquitto)" >&2; exit 2; }
: > "$out"
chmod 600 "$out"
n=0
while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    user=${line%%:*}
    pass=${line#*:}
    case "$user" in *[/+#]*|'') echo "bad user name '$user'" >&2; exit 2 ;; esac
    [ "$user" != "$line" ] && [ -n "$pass" ] || { echo "line for '$user' has no password" >&2; exit 2; }
    mosquitto_passwd -b "$out" "$user" "$pass"
    n=$((n + 1))
done < "$( [ "$src" = - ] && echo /dev/stdin || echo "$src" )"
echo "wrote $n user(s) to $out" >&2
