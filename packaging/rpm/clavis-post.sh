# %post of the clavis rpm: the directories (tmpfiles.d), then, on a first
# install, the unit left to the system's presets (%systemd_post: RHEL does
# not start services at install) and the next step.
systemd-tmpfiles --create clavis.conf
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || :
fi
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset clavis.service >/dev/null 2>&1 || :
    cat <<'MSG'

Clavis est installé. Démarrez-le : systemctl enable --now clavis
(il écoute sur http://127.0.0.1:8080, boucle locale, base SQLite dans /var/lib/clavis).
Étape suivante, un premier administrateur (docs : /usr/share/doc/clavis/install.md) :
  sudo -u clavis clavis --config /etc/clavis/clavis.toml identity add \
      --birth-name DUPONT --given-names "Marie" --birth-date 1980-05-17
  sudo -u clavis clavis --config /etc/clavis/clavis.toml admin bootstrap --identity OID

Clavis is installed. Start it: systemctl enable --now clavis (it listens on
http://127.0.0.1:8080). Next step, a first administrator: the two commands
above (docs: /usr/share/doc/clavis/install.md).

MSG
fi
