# %postun of the clavis-agent rpm (%systemd_postun_with_restart).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart clavis-agent.service >/dev/null 2>&1 || :
    fi
fi
