# %preun of the clavis rpm (%systemd_preun): stopped and disabled when
# erased, left alone on upgrade. The state in /var/lib/clavis stays.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now clavis.service >/dev/null 2>&1 || :
fi
