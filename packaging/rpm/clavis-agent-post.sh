# %post of the clavis-agent rpm: the unit left to the presets; it needs the
# workstation's identity and credential before it can start.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
fi
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset clavis-agent.service >/dev/null 2>&1 || :
    cat <<'MSG'

clavis-agent est installé, pas encore démarré : enregistrez le poste sur Clavis
(clavis workstation add --name NOM), renseignez /etc/clavis-agent/agent.toml et
/etc/clavis-agent/credential (root, 0600), puis systemctl enable --now clavis-agent
(docs : /usr/share/doc/clavis-agent/badge.md).

clavis-agent is installed, not started: register the workstation, fill in
/etc/clavis-agent/agent.toml and the credential, then
systemctl enable --now clavis-agent.

MSG
fi
