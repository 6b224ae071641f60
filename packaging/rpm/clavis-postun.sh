# %postun of the clavis rpm (%systemd_postun_with_restart): on upgrade, the
# running service restarted on the new binary, which applies the new
# migrations at start.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart clavis.service >/dev/null 2>&1 || :
    fi
fi
