# %preun of the clavis-agent rpm (%systemd_preun).
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now clavis-agent.service >/dev/null 2>&1 || :
fi
